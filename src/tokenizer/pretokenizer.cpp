#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cwctype>
#include <locale.h>
#include <new>
#include <utility>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace frugal {

const char* const kUnicodePunctuation = R"([\p{P}!-/:-@\[-`{-~])";
const char* const kUnicodeWhitespace =
    R"([\t\n\x{0B}\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}])";

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

namespace {

std::unique_ptr<SplitRegex> compile(const std::string& pattern, const std::string& source, const std::string& what) {
  return pattern.empty() ? nullptr : std::make_unique<SplitRegex>(pattern, source, what);
}

uint32_t decode_utf8(std::string_view s, size_t i, size_t len) {
  static constexpr uint8_t kLeadMask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  uint32_t cp = static_cast<uint8_t>(s[i]) & kLeadMask[len];
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3F);
  return cp;
}

// Unicode lower case per code point, as Rust's char::to_lowercase (Hugging Face's Lowercase): the
// simple mapping, and U+0130, the one character whose lower case is two.
std::string lowercase(std::string_view text) {
  static const locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t len = utf8_sequence_length(static_cast<uint8_t>(text[i]));
    const uint32_t cp = decode_utf8(text, i, len);
    i += len;
    if (cp == 0x130) {  // I with dot above: i + combining dot above
      out += "i\xCC\x87";
      continue;
    }
    const uint32_t lower = cp < 0x80 ? static_cast<uint32_t>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp)
                           : utf8        ? static_cast<uint32_t>(towlower_l(static_cast<wint_t>(cp), utf8))
                                         : cp;
    append_utf8(out, lower);
  }
  return out;
}

}  // namespace

PreTokenizer::PreTokenizer(const TextPipeline& pipeline, const std::string& source) : pipeline_(pipeline) {
  for (size_t i = 0; i < pipeline.normalizers.size(); ++i)
    normalizer_regexes_.push_back(compile(pipeline.normalizers[i].regex, source, "normalizer " + std::to_string(i)));
  for (size_t i = 0; i < pipeline.steps.size(); ++i) {
    const PreTokenizerStep& s = pipeline.steps[i];
    std::string pattern = s.regex;
    if (s.kind == PreTokenizerStep::Kind::Metaspace && s.split) pattern = "\\Q" + s.text + "\\E";
    step_regexes_.push_back(compile(pattern, source, "pre-tokenizer step " + std::to_string(i)));
  }
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

std::string PreTokenizer::normalize(std::string_view text) const {
  std::string s(text);
  std::vector<std::pair<size_t, size_t>> matches;
  for (size_t i = 0; i < pipeline_.normalizers.size(); ++i) {
    const NormalizerStep& n = pipeline_.normalizers[i];
    switch (n.kind) {
      case NormalizerStep::Kind::Prepend:
        if (!s.empty()) s.insert(0, n.text);
        break;
      case NormalizerStep::Kind::Replace: {
        matches.clear();
        normalizer_regexes_[i]->find_all(s, matches);
        std::string out;
        size_t last = 0;
        for (const auto& [b, e] : matches) {
          if (e == b) continue;  // an empty match replaces nothing
          out.append(s, last, b - last);
          out += n.text;
          last = e;
        }
        out.append(s, last);
        s = std::move(out);
        break;
      }
      case NormalizerStep::Kind::Lowercase:
        s = lowercase(s);
        break;
      case NormalizerStep::Kind::Strip: {
        static const SplitRegex space(std::string(kUnicodeWhitespace) + "+", "", "");
        matches.clear();
        space.find_all(s, matches);
        size_t begin = 0, end = s.size();
        if (n.left && !matches.empty() && matches.front().first == 0) begin = matches.front().second;
        if (n.right && !matches.empty() && matches.back().second == s.size()) end = std::max(begin, matches.back().first);
        s = s.substr(begin, end - begin);
        break;
      }
    }
  }
  return s;
}

// Hugging Face's NormalizedString::split: the piece becomes its matches and the text between them
// (with `invert`, the roles swap), then `behavior` decides what becomes of the matches.
void PreTokenizer::cut(const SplitRegex& regex, SplitBehavior behavior, bool invert, std::vector<Piece>& pieces) const {
  struct Range {
    size_t begin, end;
    bool match;
  };
  std::vector<Piece> out;
  std::vector<std::pair<size_t, size_t>> found;
  std::vector<Range> ranges, merged;
  for (Piece& piece : pieces) {
    const std::string& t = piece.text;
    found.clear();
    regex.find_all(t, found);
    ranges.clear();
    size_t last = 0;
    for (const auto& [b, e] : found) {
      if (b > last) ranges.push_back({last, b, invert});
      ranges.push_back({b, e, !invert});
      last = e;
    }
    if (last < t.size()) ranges.push_back({last, t.size(), invert});

    merged.clear();
    bool previous_match = false;
    switch (behavior) {
      case SplitBehavior::Isolated:
      case SplitBehavior::Removed:
        merged = ranges;
        break;
      case SplitBehavior::Contiguous:
        for (const Range& r : ranges) {
          if (r.match == previous_match && !merged.empty()) merged.back().end = r.end;
          else merged.push_back({r.begin, r.end, false});
          previous_match = r.match;
        }
        break;
      case SplitBehavior::MergedWithPrevious:
        for (const Range& r : ranges) {
          if (r.match && !previous_match && !merged.empty()) merged.back().end = r.end;
          else merged.push_back({r.begin, r.end, false});
          previous_match = r.match;
        }
        break;
      case SplitBehavior::MergedWithNext:
        for (auto it = ranges.rbegin(); it != ranges.rend(); ++it) {
          if (it->match && !previous_match && !merged.empty()) merged.back().begin = it->begin;
          else merged.push_back({it->begin, it->end, false});
          previous_match = it->match;
        }
        std::reverse(merged.begin(), merged.end());
        break;
    }
    for (const Range& r : merged) {
      if (r.end == r.begin || (behavior == SplitBehavior::Removed && r.match)) continue;
      out.push_back({t.substr(r.begin, r.end - r.begin), piece.at_start && r.begin == 0});
    }
  }
  pieces = std::move(out);
}

void PreTokenizer::split(std::string_view text, bool at_start, std::vector<std::string>& words) const {
  std::vector<Piece> pieces;
  std::string normalized = normalize(text);
  if (normalized.empty()) return;
  pieces.push_back({std::move(normalized), at_start});
  for (size_t i = 0; i < pipeline_.steps.size(); ++i) {
    const PreTokenizerStep& s = pipeline_.steps[i];
    switch (s.kind) {
      case PreTokenizerStep::Kind::Split:
        cut(*step_regexes_[i], s.behavior, s.invert, pieces);
        break;
      case PreTokenizerStep::Kind::PrefixSpace:
        for (Piece& p : pieces)
          if (p.text.front() != ' ') p.text.insert(0, 1, ' ');
        break;
      case PreTokenizerStep::Kind::Metaspace:
        for (Piece& p : pieces) {
          std::string replaced;
          for (char c : p.text) {
            if (c == ' ') replaced += s.text;
            else replaced += c;
          }
          const bool prepend = s.prepend == PrependScheme::Always || (s.prepend == PrependScheme::First && p.at_start);
          if (prepend && !replaced.starts_with(s.text)) replaced.insert(0, s.text);
          p.text = std::move(replaced);
        }
        if (s.split) cut(*step_regexes_[i], SplitBehavior::MergedWithNext, false, pieces);
        break;
    }
  }
  for (Piece& p : pieces) words.push_back(std::move(p.text));
}

}  // namespace frugal
