#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <new>
#include <utility>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace frugal {

namespace {

// GPT-2's regex as llama.cpp writes it. Hugging Face's ByteLevel adds a final "|\s+", which never
// changes the pieces: the only whitespace it could match alone is one character before a
// non-space, and that character is already cut off as the text between two matches.
constexpr std::string_view kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
constexpr std::string_view kGpt2Hf = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Llama 3 and Qwen2 differ only in how many digits a number piece holds. llama.cpp spells the
// case-insensitive contractions as character classes; Hugging Face writes (?i:...).
constexpr std::string_view kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kLlama3Hf =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Hf =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct NamedSpec {
  std::vector<std::string_view> names;
  PreTokenizerSpec spec;
};

const std::vector<NamedSpec>& spec_table() {
  static const std::vector<NamedSpec> table = {
      {{"default"}, {{R"([\p{P}\$\+<=>\^~\|]+)", std::string(kGpt2), R"(\p{N}+)", "[0-9][0-9][0-9]"}, false, false}},
      {{"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "jina-v1-en", "jina-v2-code",
        "roberta-bpe", "mpt", "olmo", "jais", "exaone4", "trillion", "granite-docling", "mellum", "a.x-4.0"},
       {{std::string(kGpt2)}, false, false}},
      // Hugging Face: Digits(individual_digits) then ByteLevel.
      {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
       {{R"(\p{N})", std::string(kGpt2)}, false, false}},
      {{"falcon"}, {{R"([\p{P}\$\+<=>\^~\|`]+)", std::string(kGpt2), "[0-9][0-9][0-9]"}, false, false}},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"},
       {{std::string(kLlama3)}, true, true}},
      {{"dbrx", "smaug-bpe", "chatglm-bpe", "glm4"}, {{std::string(kLlama3)}, false, false}},
      {{"qwen2", "deepseek-r1-qwen", "megrez", "stablelm2", "kormo", "hunyuan"}, {{std::string(kQwen2)}, false, false}},
  };
  return table;
}

}  // namespace

const PreTokenizerSpec* find_pre_tokenizer(std::string_view name) {
  for (const NamedSpec& entry : spec_table())
    for (std::string_view n : entry.names)
      if (n == name) return &entry.spec;
  return nullptr;
}

std::string pre_tokenizer_for_regex(std::string_view regex, bool individual_digits_first) {
  const bool gpt2 = regex == kGpt2 || regex == kGpt2Hf;
  if (individual_digits_first) return gpt2 ? "smollm" : "";
  if (gpt2) return "gpt-2";
  if (regex == kLlama3 || regex == kLlama3Hf) return "llama3";
  if (regex == kQwen2 || regex == kQwen2Hf) return "qwen2";
  return "";
}

struct PreTokenizer::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer(const std::string& name, const std::string& source) {
  const PreTokenizerSpec* spec = find_pre_tokenizer(name);
  if (!spec) fail(source, "pre", "pre-tokenizer '" + name + "' is not supported");
  ignore_merges_ = spec->ignore_merges;
  for (const std::string& pattern : spec->regexes) {
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    auto compiled = std::make_unique<Compiled>();
    compiled->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                                   &error, &error_offset, nullptr);
    if (!compiled->code) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof message);
      fail(source, "pre-tokenizer '" + name + "'",
           "regex does not compile at offset " + std::to_string(error_offset) + ": " +
               reinterpret_cast<const char*>(message));
    }
    // JIT is several times faster on long texts; the interpreter is the fallback where JIT is missing.
    pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE);
    regexes_.push_back(std::move(compiled));
  }
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& pieces) const {
  std::vector<std::string_view> current{text};
  std::vector<std::string_view> next;
  for (const auto& regex : regexes_) {
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match_data(
        pcre2_match_data_create_from_pattern(regex->code, nullptr), &pcre2_match_data_free);
    if (!match_data) throw std::bad_alloc();
    pcre2_match_data* match = match_data.get();
    next.clear();
    for (std::string_view piece : current) {
      // Match inside the piece only, so lookaheads such as (?!\S) stop at its end, as in llama.cpp.
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
      size_t start = 0;  // end of the last match
      size_t pos = 0;    // where the next search begins
      while (pos < piece.size()) {
        const int rc = pcre2_match(regex->code, subject, piece.size(), pos, PCRE2_NO_UTF_CHECK, match, nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        // Resource limits (JIT stack, match limit) would otherwise cut the text silently wrong.
        if (rc < 0) fail("tokenize: pre-tokenizer regex failed with PCRE2 error " + std::to_string(rc));
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match);
        const size_t m_begin = ov[0], m_end = ov[1];
        if (m_end == m_begin) {  // an empty match cuts nothing; step over one character
          pos = m_begin + utf8_sequence_length(static_cast<uint8_t>(piece[m_begin]));
          continue;
        }
        if (m_begin > start) next.push_back(piece.substr(start, m_begin - start));
        next.push_back(piece.substr(m_begin, m_end - m_begin));
        start = pos = m_end;
      }
      if (start < piece.size()) next.push_back(piece.substr(start));
    }
    std::swap(current, next);
  }
  pieces.insert(pieces.end(), current.begin(), current.end());
}

}  // namespace frugal
