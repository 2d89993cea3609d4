// Splits a Jinja template into text and the tokens inside {{ }} and {% %}, applying the
// whitespace rules transformers renders chat templates with: jinja2's trim_blocks (the newline
// after a block or comment tag is dropped) and lstrip_blocks (spaces and tabs before a block or
// comment tag at the start of a line are dropped), "-" inside a delimiter stripping all whitespace
// on that side and "+" keeping it, newlines normalised to "\n" and one trailing newline removed.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace frugal::jinja {

enum class TokenType {
  Text,        // literal template text (already whitespace-controlled)
  VarBegin,    // {{
  VarEnd,      // }}
  BlockBegin,  // {%
  BlockEnd,    // %}
  Name,
  String,      // text holds the decoded value
  Integer,
  Float,
  Operator,    // + - * / // % ** ~ == != < <= > >= = ( ) [ ] { } , . : |
  End,         // end of the template
};

struct Token {
  TokenType type;
  std::string text;
  int line;
  int64_t integer = 0;
  double number = 0;
};

// Throws JinjaError (with the line) on an unterminated tag, string or comment, or a stray character.
std::vector<Token> lex(const std::string& source);

}  // namespace frugal::jinja
