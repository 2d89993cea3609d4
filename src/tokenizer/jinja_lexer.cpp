#include "tokenizer/jinja_lexer.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "tokenizer/jinja_value.h"
#include "tokenizer/unicode.h"

namespace frugal::jinja {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int count_newlines(const std::string& s, size_t from, size_t to) {
  return static_cast<int>(std::count(s.begin() + static_cast<std::ptrdiff_t>(from), s.begin() + static_cast<std::ptrdiff_t>(to), '\n'));
}

// Text with Python's rstrip() applied (all trailing whitespace, Unicode spaces included).
std::string rstrip_all(const std::string& text) { return strip_chars(text, false, true, nullptr); }

class Lexer {
 public:
  explicit Lexer(std::string src) : s_(std::move(src)) {}

  std::vector<Token> run() {
    bool line_starting = true;  // what precedes the current text ends a line (or is the start)
    while (pos_ < s_.size()) {
      size_t tag = find_tag(pos_);
      std::string text = s_.substr(pos_, tag - pos_);
      const int text_line = line_;
      if (tag < s_.size()) {
        const char kind = s_[tag + 1];
        const char sign = tag + 2 < s_.size() ? s_[tag + 2] : '\0';
        if (sign == '-') {
          text = rstrip_all(text);
        } else if (sign != '+' && kind != '{') {  // lstrip_blocks: block and comment tags only
          const size_t l_pos = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
          if ((l_pos > 0 || line_starting) && l_pos < text.size() &&
              std::all_of(text.begin() + static_cast<std::ptrdiff_t>(l_pos), text.end(), is_space))
            text.resize(l_pos);
        }
      }
      if (!text.empty()) out_.push_back({TokenType::Text, text, text_line});
      line_ += count_newlines(s_, pos_, tag);
      pos_ = tag;
      if (tag >= s_.size()) break;
      line_starting = lex_tag();
    }
    out_.push_back({TokenType::End, "", line_});
    return std::move(out_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t p = s_.find('{', from); p != std::string::npos; p = s_.find('{', p + 1))
      if (p + 1 < s_.size() && (s_[p + 1] == '{' || s_[p + 1] == '%' || s_[p + 1] == '#')) return p;
    return s_.size();
  }

  // After the closing delimiter: "-" eats all whitespace, trim_blocks one newline after %} and #}.
  // Returns whether what was consumed ends a line (for lstrip_blocks on the next text).
  bool after_tag(bool strip, bool trim_newline) {
    const size_t start = pos_;
    if (strip) {
      // Python's \s*: ASCII and Unicode whitespace alike.
      std::string rest = s_.substr(pos_);
      const std::string kept = strip_chars(rest, true, false, nullptr);
      pos_ += rest.size() - kept.size();
    } else if (trim_newline && pos_ < s_.size() && s_[pos_] == '\n') {
      ++pos_;
    }
    line_ += count_newlines(s_, start, pos_);
    return pos_ > start && s_[pos_ - 1] == '\n';
  }

  bool lex_tag() {
    const int tag_line = line_;
    const char kind = s_[pos_ + 1];
    pos_ += 2;
    if (pos_ < s_.size() && (s_[pos_] == '-' || s_[pos_] == '+')) ++pos_;
    if (kind == '#') {
      const size_t end = s_.find("#}", pos_);
      if (end == std::string::npos) throw JinjaError(tag_line, "a comment {# is never closed");
      const bool strip = end > pos_ && s_[end - 1] == '-';
      const bool keep = end > pos_ && s_[end - 1] == '+';
      line_ += count_newlines(s_, pos_, end);
      pos_ = end + 2;
      return after_tag(strip, !keep);
    }
    const bool block = kind == '%';
    out_.push_back({block ? TokenType::BlockBegin : TokenType::VarBegin, block ? "{%" : "{{", tag_line});
    const std::string close = block ? "%}" : "}}";
    int depth = 0;
    while (true) {
      while (pos_ < s_.size() && is_space(s_[pos_])) {
        if (s_[pos_] == '\n') ++line_;
        ++pos_;
      }
      if (pos_ >= s_.size())
        throw JinjaError(tag_line, std::string("a tag ") + (block ? "{%" : "{{") + " is never closed");
      if (depth == 0) {
        const bool strip = s_.compare(pos_, 3, "-" + close) == 0;
        const bool keep = block && s_.compare(pos_, 3, "+" + close) == 0;
        if (strip || keep || s_.compare(pos_, 2, close) == 0) {
          out_.push_back({block ? TokenType::BlockEnd : TokenType::VarEnd, close, line_});
          pos_ += strip || keep ? 3 : 2;
          return after_tag(strip, block && !keep);
        }
      }
      lex_token(depth);
    }
  }

  void lex_token(int& depth) {
    const char c = s_[pos_];
    if (is_name_start(c)) {
      size_t end = pos_;
      while (end < s_.size() && (is_name_start(s_[end]) || is_digit(s_[end]))) ++end;
      out_.push_back({TokenType::Name, s_.substr(pos_, end - pos_), line_});
      pos_ = end;
    } else if (is_digit(c)) {
      lex_number();
    } else if (c == '\'' || c == '"') {
      lex_string(c);
    } else {
      static const char* const kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<",
                                         ">",  "=",  "(",  ")",  "[",  "]",  "{", "}", ",", ".", ":", "|"};
      for (const char* op : kOps) {
        const std::string o = op;
        if (s_.compare(pos_, o.size(), o) != 0) continue;
        if (o == "(" || o == "[" || o == "{") ++depth;
        if (o == ")" || o == "]" || o == "}") {
          if (depth == 0) throw JinjaError(line_, "unexpected '" + o + "'");
          --depth;
        }
        out_.push_back({TokenType::Operator, o, line_});
        pos_ += o.size();
        return;
      }
      throw JinjaError(line_, std::string("unexpected character '") + c + "'");
    }
  }

  void lex_number() {
    size_t end = pos_;
    bool is_float = false;
    auto digits = [&] {
      while (end < s_.size() && (is_digit(s_[end]) || s_[end] == '_')) ++end;
    };
    digits();
    if (end + 1 < s_.size() && s_[end] == '.' && is_digit(s_[end + 1])) {
      is_float = true;
      ++end;
      digits();
    }
    if (end < s_.size() && (s_[end] == 'e' || s_[end] == 'E')) {
      size_t e = end + 1;
      if (e < s_.size() && (s_[e] == '+' || s_[e] == '-')) ++e;
      if (e < s_.size() && is_digit(s_[e])) {
        is_float = true;
        end = e;
        digits();
      }
    }
    std::string text;
    for (size_t i = pos_; i < end; ++i)
      if (s_[i] != '_') text += s_[i];
    Token t{is_float ? TokenType::Float : TokenType::Integer, text, line_};
    errno = 0;
    if (is_float) t.number = std::strtod(text.c_str(), nullptr);
    else t.integer = std::strtoll(text.c_str(), nullptr, 10);
    if (errno == ERANGE) throw JinjaError(line_, "the number " + text + " is out of range");
    out_.push_back(t);
    pos_ = end;
  }

  // A quoted string with Python's escapes (\n, \t, \\, \', \", \xhh, \uhhhh, \Uhhhhhhhh, ...);
  // an unknown escape keeps its backslash, as Python does.
  void lex_string(char quote) {
    const int start_line = line_;
    std::string value;
    size_t p = pos_ + 1;
    while (true) {
      if (p >= s_.size()) throw JinjaError(start_line, "a string literal is never closed");
      const char c = s_[p];
      if (c == quote) break;
      if (c == '\n') ++line_;
      if (c != '\\') {
        value += c;
        ++p;
        continue;
      }
      if (p + 1 >= s_.size()) throw JinjaError(start_line, "a string literal is never closed");
      const char e = s_[p + 1];
      p += 2;
      switch (e) {
        case 'n': value += '\n'; break;
        case 't': value += '\t'; break;
        case 'r': value += '\r'; break;
        case '\\': value += '\\'; break;
        case '\'': value += '\''; break;
        case '"': value += '"'; break;
        case 'a': value += '\a'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'v': value += '\v'; break;
        case '0': value += '\0'; break;
        case '\n': ++line_; break;  // a backslash-newline continues the line
        case 'x':
        case 'u':
        case 'U': {
          const size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (p + n > s_.size()) throw JinjaError(line_, "a truncated \\" + std::string(1, e) + " escape");
          const std::string hex = s_.substr(p, n);
          if (!std::all_of(hex.begin(), hex.end(), [](char h) { return std::isxdigit(static_cast<unsigned char>(h)); }))
            throw JinjaError(line_, "a malformed \\" + std::string(1, e) + " escape");
          const uint32_t cp = static_cast<uint32_t>(std::strtoul(hex.c_str(), nullptr, 16));
          if (cp > 0x10FFFF) throw JinjaError(line_, "an escape beyond Unicode");
          frugal::append_utf8(value, cp);
          p += n;
          break;
        }
        default:
          value += '\\';
          value += e;
      }
    }
    out_.push_back({TokenType::String, value, start_line});
    pos_ = p + 1;
  }

  std::string s_;
  size_t pos_ = 0;
  int line_ = 1;
  std::vector<Token> out_;
};

// jinja2 reads "\r\n" and "\r" as "\n" and, without keep_trailing_newline, drops one final "\n".
std::string normalise_newlines(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

std::vector<Token> lex(const std::string& source) { return Lexer(normalise_newlines(source)).run(); }

}  // namespace frugal::jinja
