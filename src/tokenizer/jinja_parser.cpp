#include "tokenizer/jinja_parser.h"

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_lexer.h"

namespace frugal::jinja {

namespace {

constexpr int kMaxDepth = 200;  // nesting of expressions and blocks; deeper is an error, not a stack overflow

using ExprPtr = std::unique_ptr<Expr>;

Stmt statement(Stmt::Kind kind, int line, std::string text = "") {
  Stmt s;
  s.kind = kind;
  s.line = line;
  s.text = std::move(text);
  return s;
}

ExprPtr make(Expr::Kind kind, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  Template run() {
    Template tpl;
    std::string end;
    tpl.body = parse_body({}, end);
    return tpl;
  }

 private:
  struct DepthGuard {
    explicit DepthGuard(Parser& p) : p(p) {
      if (++p.depth_ > kMaxDepth) throw JinjaError(p.cur().line, "the template nests too deeply");
    }
    ~DepthGuard() { --p.depth_; }
    Parser& p;
  };

  const Token& cur() const { return t_[i_]; }
  const Token& peek(size_t ahead = 1) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
  bool is_op(const std::string& op) const { return cur().type == TokenType::Operator && cur().text == op; }
  bool is_name(const std::string& n) const { return cur().type == TokenType::Name && cur().text == n; }
  void advance() {
    if (cur().type != TokenType::End) ++i_;
  }
  [[noreturn]] void unexpected(const std::string& wanted) const {
    std::string got = cur().type == TokenType::End        ? "the end of the template"
                      : cur().type == TokenType::BlockEnd ? "'%}'"
                      : cur().type == TokenType::VarEnd   ? "'}}'"
                                                          : "'" + cur().text + "'";
    throw JinjaError(cur().line, "expected " + wanted + ", got " + got);
  }
  void expect_op(const std::string& op) {
    if (!is_op(op)) unexpected("'" + op + "'");
    advance();
  }
  std::string expect_name() {
    if (cur().type != TokenType::Name) unexpected("a name");
    std::string n = cur().text;
    advance();
    return n;
  }
  void expect_block_end() {
    if (cur().type != TokenType::BlockEnd) unexpected("'%}'");
    advance();
  }

  // Statements until one of `ends` (an {% end... %} or {% else %} keyword); `end` gets which one.
  std::vector<Stmt> parse_body(const std::vector<std::string>& ends, std::string& end) {
    DepthGuard guard(*this);
    std::vector<Stmt> body;
    while (true) {
      const Token& t = cur();
      if (t.type == TokenType::End) {
        if (!ends.empty()) throw JinjaError(t.line, "the template ends inside a block: expected {% " + ends.back() + " %}");
        return body;
      }
      if (t.type == TokenType::Text) {
        body.push_back(statement(Stmt::Kind::Text, t.line, t.text));
        advance();
      } else if (t.type == TokenType::VarBegin) {
        advance();
        Stmt s = statement(Stmt::Kind::Output, t.line);
        s.expr = parse_expression();
        if (cur().type != TokenType::VarEnd) unexpected("'}}'");
        advance();
        body.push_back(std::move(s));
      } else if (t.type == TokenType::BlockBegin) {
        advance();
        if (cur().type != TokenType::Name) unexpected("a statement name");
        const std::string keyword = cur().text;
        for (const std::string& e : ends)
          if (keyword == e) {
            end = keyword;
            advance();
            return body;
          }
        body.push_back(parse_statement(keyword));
      } else {
        unexpected("text or a tag");
      }
    }
  }

  Stmt parse_statement(const std::string& keyword) {
    const int line = cur().line;
    advance();
    if (keyword == "if") return parse_if(line);
    if (keyword == "for") return parse_for(line);
    if (keyword == "set") return parse_set(line);
    if (keyword == "break" || keyword == "continue") {
      if (loop_depth_ == 0) throw JinjaError(line, "'" + keyword + "' outside a for loop");
      expect_block_end();
      return statement(keyword == "break" ? Stmt::Kind::Break : Stmt::Kind::Continue, line);
    }
    if (keyword == "generation") {  // transformers' marker of assistant text: renders its body
      expect_block_end();
      Stmt s = statement(Stmt::Kind::Generation, line);
      std::string end;
      s.body = parse_body({"endgeneration"}, end);
      expect_block_end();
      return s;
    }
    static const char* const kKnown[] = {"macro", "call",   "filter", "raw",  "include", "import", "from",
                                         "extends", "block", "with",  "do",   "autoescape", "trans"};
    for (const char* k : kKnown)
      if (keyword == k) throw JinjaError(line, "statement '" + keyword + "' is not supported");
    if (keyword.starts_with("end") || keyword == "else" || keyword == "elif")
      throw JinjaError(line, "unexpected '" + keyword + "'");
    throw JinjaError(line, "unknown statement '" + keyword + "'");
  }

  Stmt parse_if(int line) {
    Stmt s = statement(Stmt::Kind::If, line);
    ExprPtr condition = parse_expression();
    expect_block_end();
    while (true) {
      std::string end;
      std::vector<Stmt> body = parse_body({"elif", "else", "endif"}, end);
      s.branches.emplace_back(std::move(condition), std::move(body));
      if (end == "elif") {
        condition = parse_expression();
        expect_block_end();
        continue;
      }
      expect_block_end();
      if (end == "else") {
        s.body = parse_body({"endif"}, end);
        expect_block_end();
      }
      return s;
    }
  }

  Stmt parse_for(int line) {
    Stmt s = statement(Stmt::Kind::For, line);
    s.targets.push_back(expect_name());
    while (is_op(",")) {
      advance();
      s.targets.push_back(expect_name());
    }
    if (!is_name("in")) unexpected("'in'");
    advance();
    s.expr = parse_expression(false);
    if (is_name("if")) {
      advance();
      s.condition = parse_expression(false);
    }
    if (is_name("recursive")) throw JinjaError(cur().line, "recursive for loops are not supported");
    expect_block_end();
    ++loop_depth_;
    std::string end;
    s.body = parse_body({"else", "endfor"}, end);
    --loop_depth_;
    expect_block_end();
    if (end == "else") {
      s.else_body = parse_body({"endfor"}, end);
      expect_block_end();
    }
    return s;
  }

  Stmt parse_set(int line) {
    Stmt s = statement(Stmt::Kind::Set, line);
    s.targets.push_back(expect_name());
    if (is_op(".")) {
      advance();
      s.targets.push_back(expect_name());
    }
    if (is_op(",")) throw JinjaError(line, "set with several targets is not supported");
    if (cur().type == TokenType::BlockEnd) throw JinjaError(line, "block set ({% set x %}...{% endset %}) is not supported");
    expect_op("=");
    s.expr = parse_expression();
    expect_block_end();
    return s;
  }

  // expression := or ["if" or ["else" expression]]
  ExprPtr parse_expression(bool with_conditional = true) {
    DepthGuard guard(*this);
    ExprPtr e = parse_or();
    while (with_conditional && is_name("if")) {
      const int line = cur().line;
      advance();
      auto c = make(Expr::Kind::Conditional, line);
      c->children.push_back(std::move(e));
      c->children.push_back(parse_or());
      if (is_name("else")) {
        advance();
        c->children.push_back(parse_expression());
      } else {
        c->children.push_back(nullptr);
      }
      e = std::move(c);
    }
    return e;
  }

  ExprPtr binary(Expr::Kind kind, const std::string& op, ExprPtr l, ExprPtr r, int line) {
    auto e = make(kind, line);
    e->name = op;
    e->children.push_back(std::move(l));
    e->children.push_back(std::move(r));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      const int line = cur().line;
      advance();
      e = binary(Expr::Kind::Or, "or", std::move(e), parse_and(), line);
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      const int line = cur().line;
      advance();
      e = binary(Expr::Kind::And, "and", std::move(e), parse_not(), line);
    }
    return e;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      auto e = make(Expr::Kind::Not, cur().line);
      advance();
      e->children.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    ExprPtr e = parse_math1();
    while (true) {
      const int line = cur().line;
      std::string op;
      if (cur().type == TokenType::Operator &&
          (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == "<=" || cur().text == ">" ||
           cur().text == ">=")) {
        op = cur().text;
        advance();
      } else if (is_name("in")) {
        op = "in";
        advance();
      } else if (is_name("not") && peek().type == TokenType::Name && peek().text == "in") {
        op = "notin";
        advance();
        advance();
      } else {
        return e;
      }
      e = binary(Expr::Kind::Binary, op, std::move(e), parse_math1(), line);
    }
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const std::string op = cur().text;
      const int line = cur().line;
      advance();
      e = binary(Expr::Kind::Binary, op, std::move(e), parse_concat(), line);
    }
    return e;
  }

  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      const int line = cur().line;
      advance();
      e = binary(Expr::Kind::Binary, "~", std::move(e), parse_math2(), line);
    }
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const std::string op = cur().text;
      const int line = cur().line;
      advance();
      e = binary(Expr::Kind::Binary, op, std::move(e), parse_pow(), line);
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      const int line = cur().line;
      advance();
      e = binary(Expr::Kind::Binary, "**", std::move(e), parse_unary(true), line);
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      e = make(is_op("-") ? Expr::Kind::Negate : Expr::Kind::Plus, cur().line);
      advance();
      e->children.push_back(parse_unary(false));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filters_and_tests(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    const int line = t.line;
    if (t.type == TokenType::Name) {
      auto e = make(Expr::Kind::Literal, line);
      if (t.text == "true" || t.text == "True") e->literal = Value::from(true);
      else if (t.text == "false" || t.text == "False") e->literal = Value::from(false);
      else if (t.text == "none" || t.text == "None") e->literal = Value::none();
      else {
        e->kind = Expr::Kind::Name;
        e->name = t.text;
      }
      advance();
      return e;
    }
    if (t.type == TokenType::String) {
      std::string s;
      while (cur().type == TokenType::String) {  // adjacent literals concatenate
        s += cur().text;
        advance();
      }
      auto e = make(Expr::Kind::Literal, line);
      e->literal = Value::from(std::move(s));
      return e;
    }
    if (t.type == TokenType::Integer || t.type == TokenType::Float) {
      auto e = make(Expr::Kind::Literal, line);
      e->literal = t.type == TokenType::Integer ? Value::from(t.integer) : Value::from(t.number);
      advance();
      return e;
    }
    if (is_op("(")) {
      advance();
      if (is_op(")")) {  // () is an empty tuple, which behaves as a list here
        advance();
        return make(Expr::Kind::List, line);
      }
      ExprPtr e = parse_expression();
      if (is_op(",")) {  // a tuple: a list for our purposes
        auto list = make(Expr::Kind::List, line);
        list->children.push_back(std::move(e));
        while (is_op(",")) {
          advance();
          if (is_op(")")) break;
          list->children.push_back(parse_expression());
        }
        e = std::move(list);
      }
      expect_op(")");
      return e;
    }
    if (is_op("[")) {
      advance();
      auto e = make(Expr::Kind::List, line);
      while (!is_op("]")) {
        e->children.push_back(parse_expression());
        if (!is_op(",")) break;
        advance();
      }
      expect_op("]");
      return e;
    }
    if (is_op("{")) {
      advance();
      auto e = make(Expr::Kind::Dict, line);
      while (!is_op("}")) {
        e->children.push_back(parse_expression());
        expect_op(":");
        e->children.push_back(parse_expression());
        if (!is_op(",")) break;
        advance();
      }
      expect_op("}");
      return e;
    }
    unexpected("an expression");
  }

  void parse_call_args(Expr& e) {
    expect_op("(");
    while (!is_op(")")) {
      if (cur().type == TokenType::Name && peek().type == TokenType::Operator && peek().text == "=") {
        std::string name = cur().text;
        advance();
        advance();
        e.named.emplace_back(std::move(name), parse_expression());
      } else {
        if (!e.named.empty()) throw JinjaError(cur().line, "a positional argument follows a keyword argument");
        e.children.push_back(parse_expression());
      }
      if (!is_op(",")) break;
      advance();
    }
    expect_op(")");
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      const int line = cur().line;
      if (is_op(".")) {
        advance();
        auto a = make(Expr::Kind::Attr, line);
        if (cur().type == TokenType::Integer) {  // x.0 is x[0]
          a->kind = Expr::Kind::Item;
          a->children.push_back(std::move(e));
          auto index = make(Expr::Kind::Literal, line);
          index->literal = Value::from(cur().integer);
          a->children.push_back(std::move(index));
          advance();
        } else {
          a->name = expect_name();
          a->children.push_back(std::move(e));
        }
        e = std::move(a);
      } else if (is_op("[")) {
        advance();
        e = parse_subscript(std::move(e), line);
      } else if (is_op("(")) {
        if (e->kind == Expr::Kind::Attr && !has_method(e->name))
          throw JinjaError(line, "method '" + e->name + "' is not supported");
        auto c = make(Expr::Kind::Call, line);
        c->children.push_back(std::move(e));
        parse_call_args(*c);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr object, int line) {
    ExprPtr parts[3];
    int colons = 0;
    if (!is_op(":")) parts[0] = parse_expression();
    while (is_op(":") && colons < 2) {
      advance();
      ++colons;
      if (!is_op(":") && !is_op("]")) parts[colons] = parse_expression();
    }
    expect_op("]");
    auto e = make(colons == 0 ? Expr::Kind::Item : Expr::Kind::Slice, line);
    e->children.push_back(std::move(object));
    if (colons == 0) {
      e->children.push_back(std::move(parts[0]));
    } else {
      for (auto& p : parts) e->children.push_back(std::move(p));
    }
    return e;
  }

  ExprPtr parse_filters_and_tests(ExprPtr e) {
    while (true) {
      const int line = cur().line;
      if (is_op("|")) {
        advance();
        auto f = make(Expr::Kind::Filter, line);
        f->name = expect_name();
        while (is_op(".")) {  // dotted filter names exist in jinja2; none is supported here
          advance();
          f->name += '.';
          f->name += expect_name();
        }
        if (!has_filter(f->name)) throw JinjaError(line, "filter '" + f->name + "' is not supported");
        f->children.push_back(std::move(e));
        if (is_op("(")) parse_call_args(*f);
        e = std::move(f);
      } else if (is_name("is")) {
        advance();
        auto t = make(Expr::Kind::Test, line);
        if (is_name("not")) {
          t->negated = true;
          advance();
        }
        t->name = expect_name();
        if (!has_test(t->name)) throw JinjaError(line, "test '" + t->name + "' is not supported");
        t->children.push_back(std::move(e));
        if (is_op("(")) {
          parse_call_args(*t);
        } else if ((cur().type == TokenType::Name || cur().type == TokenType::String ||
                    cur().type == TokenType::Integer || cur().type == TokenType::Float || is_op("[") || is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and") && !is_name("is") && !is_name("if")) {
          // `x is divisibleby 3`, `x is sameas false`: one argument without parentheses
          t->children.push_back(parse_postfix(parse_primary()));
        }
        e = std::move(t);
      } else if (is_op("(")) {
        auto c = make(Expr::Kind::Call, line);
        c->children.push_back(std::move(e));
        parse_call_args(*c);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Template parse(const std::string& source) { return Parser(lex(source)).run(); }

}  // namespace frugal::jinja
