// Pre-tokenizers of BPE vocabularies: the text is cut into words by a chain of regexes before
// merges run, and no merge crosses a cut. Each GGUF `tokenizer.ggml.pre` name selects the chain
// llama.cpp uses for it (src/llama-vocab.cpp), which is the Hugging Face tokenizer's regex; the
// table of names is pretokenizer_table.cpp.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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

// nullptr when `name` is not a pre-tokenizer llama.cpp knows.
const PreTokenizerSpec* find_pre_tokenizer(std::string_view name);
// Every name find_pre_tokenizer accepts, in table order.
const std::vector<std::string_view>& pre_tokenizer_names();

// Canonical name for a Hugging Face regex (tokenizer.json Split pattern or the ByteLevel
// pre-tokenizer's built-in one), or "" when we do not know it.
std::string pre_tokenizer_for_regex(std::string_view regex, bool individual_digits_first);

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
  // Compiles the regexes once; fails naming `source` when `name` is unknown.
  PreTokenizer(const std::string& name, const std::string& source);
  PreTokenizer(const PreTokenizerSpec& spec, const std::string& source);
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // Cuts valid UTF-8 `text` into consecutive non-empty pieces that cover it exactly (matches and
  // the text between matches both become pieces, as llama.cpp's unicode_regex_split and Hugging
  // Face's Split(behavior = Isolated) do). Thread-safe.
  void split(std::string_view text, std::vector<std::string_view>& pieces) const;

  const PreTokenizerSpec& spec() const { return spec_; }
  bool ignore_merges() const { return spec_.ignore_merges; }

 private:
  PreTokenizerSpec spec_;
  std::vector<SplitRegex> regexes_;
};

}  // namespace frugal
