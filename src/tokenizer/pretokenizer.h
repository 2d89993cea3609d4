// Pre-tokenizers of BPE vocabularies: normalizers rewrite the text and a chain of splits cuts it
// into words before merges run; no merge crosses a cut (text_pipeline.h). Each GGUF
// `tokenizer.ggml.pre` name selects the chain llama.cpp uses for it (src/llama-vocab.cpp), which
// is the Hugging Face tokenizer's regex; the table of names is pretokenizer_table.cpp.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/text_pipeline.h"

namespace frugal {

struct PreTokenizerSpec {
  std::string name;                  // the GGUF tokenizer.ggml.pre name
  std::vector<std::string> regexes;  // applied in turn; each one cuts the pieces of the previous one
  bool ignore_merges = false;        // a word that is already a token is emitted whole (Llama 3)
  bool add_bos = false;              // llama.cpp's default for add_bos when the file does not say
  bool always_add_bos = false;       // llama.cpp adds BOS whatever the file says (Gemma 4)
  bool clean_spaces = true;          // llama.cpp's detokenizer clean-up default (not applied here)
  bool byte_level = true;            // words are spelled in GPT-2's byte alphabet before merging;
                                     // false: raw UTF-8, unknown bytes as <0xNN> tokens
  bool escape_spaces = false;        // spaces become U+2581 before splitting (SentencePiece-style BPE)
  bool whole_newline_runs = false;   // a word of line breaks that is a token stays whole (Gemma 4)
};

// GPT-2's regex as llama.cpp writes it (Hugging Face's ByteLevel adds "|\s+", which changes no piece).
extern const char* const kGpt2Regex;

// nullptr when `name` is not a pre-tokenizer llama.cpp knows.
const PreTokenizerSpec* find_pre_tokenizer(std::string_view name);
// Every name find_pre_tokenizer accepts, in table order.
const std::vector<std::string_view>& pre_tokenizer_names();

// The first GGUF name whose pipeline is `p` (only Isolated regex splits over byte-level text qualify),
// or "" when none is.
std::string pre_tokenizer_name_for(const TextPipeline& p);

// One regex compiled for splitting (PCRE2, UTF + Unicode properties, JIT where available).
class SplitRegex {
 public:
  // Fails naming `source` and `what` when the pattern does not compile.
  SplitRegex(const std::string& pattern, const std::string& source, const std::string& what);
  ~SplitRegex();
  SplitRegex(SplitRegex&&) noexcept;
  SplitRegex& operator=(SplitRegex&&) noexcept;

  // Byte ranges [begin, end) of the matches in `text`, in order. An empty match is reported too
  // (it cuts the text there, as in Hugging Face's Split and llama.cpp); the search then moves on by
  // one character. Lookarounds see only `text`. Thread-safe.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& matches) const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
};

class PreTokenizer {
 public:
  // Compiles the regexes once; fails naming `source` on a regex that does not compile.
  PreTokenizer(const TextPipeline& pipeline, const std::string& source);
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // Normalizes valid UTF-8 `text` and cuts it into non-empty words. `at_start`: the text begins the
  // whole input (Metaspace's prepend_scheme "first"). Thread-safe.
  void split(std::string_view text, bool at_start, std::vector<std::string>& pieces) const;

  const TextPipeline& pipeline() const { return pipeline_; }

 private:
  struct Piece {
    std::string text;
    bool at_start;
  };
  std::string normalize(std::string_view text) const;
  void cut(const SplitRegex& regex, SplitBehavior behavior, bool invert, std::vector<Piece>& pieces) const;

  TextPipeline pipeline_;
  std::vector<std::unique_ptr<SplitRegex>> normalizer_regexes_;  // one per normalizer (null where none)
  std::vector<std::unique_ptr<SplitRegex>> step_regexes_;        // one per step (null where none)
};

}  // namespace frugal
