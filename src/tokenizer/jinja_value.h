// The values a Jinja chat template computes with, with Python's semantics where templates can see
// them (truthiness, ==, str(), repr(), json.dumps), since transformers renders templates with
// jinja2 on Python objects. Lists and dicts are shared like Python's (a namespace's attributes
// change in place); strings are UTF-8 and indexed by code point, as Python indexes them.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace frugal::jinja {

// A problem with a template (syntax, unsupported construct, failed operation) at a template line.
class JinjaError : public std::runtime_error {
 public:
  JinjaError(int line, const std::string& what) : std::runtime_error(what), line(line) {}
  int line;
};

struct Value;
struct Dict;
struct Function;
using List = std::vector<Value>;

struct Args {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> named;
};

struct Value {
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Namespace, Function };
  Kind kind = Kind::Undefined;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string text;  // String; for Undefined, what was looked up, for error messages
  std::shared_ptr<List> list;
  std::shared_ptr<Dict> dict;  // Dict and Namespace
  std::shared_ptr<Function> function;

  static Value undefined(std::string what = "");
  static Value none();
  static Value from(bool b);
  static Value from(int64_t i);
  static Value from(double d);
  static Value from(std::string s);
  static Value make_list(List items);
  static Value make_dict(Dict d);
  static Value make_namespace(Dict d);
  static Value make_function(std::string name, std::function<Value(Args&, int)> call);

  bool is(Kind k) const { return kind == k; }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float || kind == Kind::Bool; }
  double as_double() const;
};

struct Dict {
  std::vector<std::pair<std::string, Value>> entries;  // insertion order, as a Python dict keeps it
  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value v);
};

struct Function {
  std::string name;
  std::function<Value(Args&, int)> call;  // (arguments, template line)
};

bool truthy(const Value& v);
bool equal(const Value& a, const Value& b);
// Python's type name, for messages: 'str', 'int', 'list', 'dict', 'NoneType', ...
std::string type_name(const Value& v);
std::string to_str(const Value& v);   // Python str(); Undefined is ""
std::string to_repr(const Value& v);  // Python repr()
std::string float_repr(double d);     // Python repr(float)
// json.dumps(v, ensure_ascii=False, indent=indent or None, sort_keys=...) as transformers' tojson.
std::string to_json(const Value& v, int indent, bool sort_keys, int line);

// UTF-8 strings by code point, as Python sees them.
std::vector<std::string> split_code_points(std::string_view s);
bool is_python_space(std::string_view code_point);
std::string strip_chars(std::string_view s, bool left, bool right, const std::string* chars);

}  // namespace frugal::jinja
