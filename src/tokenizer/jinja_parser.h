// The syntax tree of a Jinja template, parsed with jinja2's grammar and operator precedence
// (filters and tests bind tighter than arithmetic: `a + b | trim` is `a + (b | trim)`). Only the
// statements chat templates use are accepted: if/elif/else, for (with else and an `if` filter),
// set (a name or namespace.attribute), break/continue and transformers' generation block.
// Anything else, an unknown filter, test or method, is a JinjaError naming it and its line.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_value.h"

namespace frugal::jinja {

struct Expr {
  enum class Kind {
    Literal,  // literal
    Name,     // name
    Attr,     // children[0].name
    Item,     // children[0][children[1]]
    Slice,    // children[0][children[1]:children[2]:children[3]] (null parts omitted)
    Call,     // children[0](children[1..], named)
    Filter,   // children[0] | name(children[1..], named)
    Test,     // children[0] is [not] name(children[1..])
    Not,
    Negate,
    Plus,
    Binary,   // name is the operator: + - * / // % ** ~ == != < <= > >= in notin
    And,
    Or,
    Conditional,  // children[0] if children[1] else children[2] (may be null)
    List,
    Dict,         // children alternate key, value
  };
  Kind kind{};
  int line = 0;
  Value literal;
  std::string name;
  std::vector<std::unique_ptr<Expr>> children;
  std::vector<std::pair<std::string, std::unique_ptr<Expr>>> named;
  bool negated = false;  // Test: `is not`
};

struct Stmt {
  enum class Kind { Text, Output, If, For, Set, Break, Continue, Generation };
  Kind kind{};
  int line = 0;
  std::string text;                        // Text
  std::unique_ptr<Expr> expr;              // Output; Set's value; For's iterable
  std::vector<std::string> targets;        // For: loop variables; Set: {name} or {namespace, attribute}
  std::unique_ptr<Expr> condition;         // For: the `if` filter
  std::vector<std::pair<std::unique_ptr<Expr>, std::vector<Stmt>>> branches;  // If: (condition, body)...
  std::vector<Stmt> body;                  // For, Generation; If: the else branch
  std::vector<Stmt> else_body;             // For: runs when nothing was iterated
};

struct Template {
  std::vector<Stmt> body;
};

// Parses `source`; throws JinjaError on a syntax error or an unsupported construct.
Template parse(const std::string& source);

}  // namespace frugal::jinja
