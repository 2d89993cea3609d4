#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <new>
#include <utility>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace frugal {

std::string pre_tokenizer_for_regex(std::string_view regex, bool individual_digits_first) {
  // Hugging Face's ByteLevel regex is GPT-2's with a final "|\s+", which changes no piece.
  std::string trimmed(regex);
  if (trimmed.size() > 4 && trimmed.ends_with(R"(|\s+)") && !trimmed.ends_with(R"(\s+(?!\S)|\s+)"))
    trimmed.resize(trimmed.size() - 4);
  for (std::string_view name : pre_tokenizer_names()) {
    const PreTokenizerSpec* spec = find_pre_tokenizer(name);
    if (individual_digits_first) {
      if (spec->regexes.size() == 2 && spec->regexes[0] == R"(\p{N})" && spec->regexes[1] == trimmed) return spec->name;
    } else if (spec->regexes.size() == 1 && spec->regexes[0] == trimmed) {
      return spec->name;
    }
  }
  return "";
}

struct SplitRegex::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

SplitRegex::SplitRegex(const std::string& pattern, const std::string& source, const std::string& what)
    : compiled_(std::make_unique<Compiled>()) {
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                                  &error, &error_offset, nullptr);
  if (!compiled_->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    fail(source, what,
         "regex does not compile at offset " + std::to_string(error_offset) + ": " +
             reinterpret_cast<const char*>(message));
  }
  // JIT is several times faster on long texts; the interpreter is the fallback where JIT is missing.
  pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE);
}

SplitRegex::~SplitRegex() = default;
SplitRegex::SplitRegex(SplitRegex&&) noexcept = default;
SplitRegex& SplitRegex::operator=(SplitRegex&&) noexcept = default;

void SplitRegex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& matches) const {
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match_data(
      pcre2_match_data_create_from_pattern(compiled_->code, nullptr), &pcre2_match_data_free);
  if (!match_data) throw std::bad_alloc();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos <= text.size()) {
    const int rc = pcre2_match(compiled_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, match_data.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    // Resource limits (JIT stack, match limit) would otherwise cut the text silently wrong.
    if (rc < 0) fail("tokenize: pre-tokenizer regex failed with PCRE2 error " + std::to_string(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match_data.get());
    matches.emplace_back(ov[0], ov[1]);
    if (ov[1] > ov[0]) {
      pos = ov[1];
    } else {  // an empty match: step over one character
      if (ov[0] >= text.size()) break;
      pos = ov[0] + utf8_sequence_length(static_cast<uint8_t>(text[ov[0]]));
    }
  }
}

PreTokenizer::PreTokenizer(const std::string& name, const std::string& source) {
  const PreTokenizerSpec* spec = find_pre_tokenizer(name);
  if (!spec) fail(source, "pre", "pre-tokenizer '" + name + "' is not one llama.cpp knows");
  *this = PreTokenizer(*spec, source);
}

PreTokenizer::PreTokenizer(const PreTokenizerSpec& spec, const std::string& source) : spec_(spec) {
  for (const std::string& pattern : spec.regexes) regexes_.emplace_back(pattern, source, "pre-tokenizer '" + spec.name + "'");
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& pieces) const {
  std::vector<std::string_view> current{text};
  std::vector<std::string_view> next;
  std::vector<std::pair<size_t, size_t>> matches;
  for (const SplitRegex& regex : regexes_) {
    next.clear();
    for (std::string_view piece : current) {
      // Match inside the piece only, so lookaheads such as (?!\S) stop at its end, as in llama.cpp.
      matches.clear();
      regex.find_all(piece, matches);
      size_t start = 0;  // end of the last piece emitted
      for (const auto& [begin, end] : matches) {
        if (begin > start) next.push_back(piece.substr(start, begin - start));
        if (end > begin) next.push_back(piece.substr(begin, end - begin));
        start = end;
      }
      if (start < piece.size()) next.push_back(piece.substr(start));
    }
    std::swap(current, next);
  }
  pieces.insert(pieces.end(), current.begin(), current.end());
}

}  // namespace frugal
