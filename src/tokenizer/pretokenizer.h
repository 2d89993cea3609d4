// Pre-tokenizers of byte-level BPE vocabularies: the text is cut into words by a chain of regexes
// before merges run, and no merge crosses a cut. Each GGUF `tokenizer.ggml.pre` name selects the
// chain llama.cpp uses for it (src/llama-vocab.cpp), which is the Hugging Face tokenizer's regex.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace frugal {

struct PreTokenizerSpec {
  std::vector<std::string> regexes;  // applied in turn; each one cuts the pieces of the previous one
  bool ignore_merges = false;        // a word that is already a token is emitted whole (Llama 3)
  bool add_bos = false;              // llama.cpp's default for add_bos when the file does not say
};

// nullptr when `name` is not a pre-tokenizer we implement.
const PreTokenizerSpec* find_pre_tokenizer(std::string_view name);

// Canonical name for a Hugging Face regex (tokenizer.json Split pattern or the ByteLevel
// pre-tokenizer's built-in one), or "" when we do not know it.
std::string pre_tokenizer_for_regex(std::string_view regex, bool individual_digits_first);

class PreTokenizer {
 public:
  // Compiles the regexes once; fails naming `source` when `name` is unknown.
  PreTokenizer(const std::string& name, const std::string& source);
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // Cuts valid UTF-8 `text` into consecutive pieces that cover it exactly (matches and the text
  // between matches both become pieces, as llama.cpp's unicode_regex_split and Hugging Face's
  // Split(behavior = Isolated) do). Thread-safe.
  void split(std::string_view text, std::vector<std::string_view>& pieces) const;

  bool ignore_merges() const { return ignore_merges_; }

 private:
  struct Compiled;
  std::vector<std::unique_ptr<Compiled>> regexes_;
  bool ignore_merges_ = false;
};

}  // namespace frugal
