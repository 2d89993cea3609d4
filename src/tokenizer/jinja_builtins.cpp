#include "tokenizer/jinja_builtins.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace frugal::jinja {

namespace {

using K = Value::Kind;

const std::set<std::string>& filter_names() {
  static const std::set<std::string> names = {
      "trim",   "length", "count",   "tojson",     "upper",      "lower",  "title",  "capitalize", "default",
      "d",      "first",  "last",    "join",       "replace",    "safe",   "string", "list",       "items",
      "dictsort", "selectattr", "rejectattr", "select", "reject", "map",    "int",    "float",      "abs",
      "reverse", "unique", "sum",    "min",        "max",        "batch"};
  return names;
}

const std::set<std::string>& test_names() {
  static const std::set<std::string> names = {
      "defined", "undefined", "none", "string", "number", "integer", "float", "boolean", "true", "false",
      "mapping", "iterable", "sequence", "callable", "equalto", "eq", "==", "ne", "!=", "sameas", "in",
      "odd", "even", "divisibleby", "lower", "upper", "lt", "le", "gt", "ge", "greaterthan", "lessthan"};
  return names;
}

const std::set<std::string>& string_methods() {
  static const std::set<std::string> names = {"strip", "lstrip", "rstrip", "split", "startswith", "endswith",
                                              "replace", "upper", "lower", "title", "capitalize", "find",
                                              "count", "join", "isdigit", "isalpha", "isspace"};
  return names;
}

const std::set<std::string>& dict_methods() {
  static const std::set<std::string> names = {"get", "items", "keys", "values"};
  return names;
}

[[noreturn]] void type_error(int line, const std::string& what, const Value& v) {
  throw JinjaError(line, what + " cannot take a value of type '" + type_name(v) + "'");
}

std::string need_string(const Value& v, int line, const std::string& what) {
  if (!v.is(K::String)) type_error(line, what, v);
  return v.text;
}

std::string ascii_map(std::string s, int (*f)(int)) {
  for (char& c : s) c = static_cast<char>(f(static_cast<unsigned char>(c)));
  return s;
}

bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }

// Python's str.title(): a letter after a non-letter is upper-cased, other letters lower-cased.
std::string title_case(const std::string& s) {
  std::string out = s;
  bool previous_letter = false;
  for (char& c : out) {
    if (is_alpha(c)) {
      c = static_cast<char>(previous_letter ? std::tolower(static_cast<unsigned char>(c)) : std::toupper(static_cast<unsigned char>(c)));
      previous_letter = true;
    } else {
      previous_letter = (static_cast<unsigned char>(c) >= 0x80) && previous_letter;
    }
  }
  return out;
}

std::string capitalize(const std::string& s) {
  std::string out = ascii_map(s, [](int c) { return std::tolower(c); });
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
  if (from.empty()) {  // Python inserts `to` between characters (and at both ends)
    std::string out;
    int64_t done = 0;
    for (const std::string& cp : split_code_points(s)) {
      if (count < 0 || done < count) {
        out += to;
        ++done;
      }
      out += cp;
    }
    if (count < 0 || done < count) out += to;
    return out;
  }
  std::string out;
  size_t at = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t hit = s.find(from, at);
    if (hit == std::string::npos) break;
    out += s.substr(at, hit - at) + to;
    at = hit + from.size();
    ++done;
  }
  return out + s.substr(at);
}

// Python's str.split(sep=None, maxsplit=-1).
List split(const std::string& s, const Value& sep, int64_t maxsplit, int line) {
  List out;
  if (sep.is(K::None) || sep.is(K::Undefined)) {
    const std::vector<std::string> cps = split_code_points(s);
    size_t i = 0;
    while (true) {
      while (i < cps.size() && is_python_space(cps[i])) ++i;
      if (i >= cps.size()) break;
      std::string word;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
        for (; i < cps.size(); ++i) word += cps[i];
        out.push_back(Value::from(strip_chars(word, false, true, nullptr)));
        break;
      }
      while (i < cps.size() && !is_python_space(cps[i])) word += cps[i++];
      out.push_back(Value::from(word));
    }
    return out;
  }
  const std::string separator = need_string(sep, line, "split's separator");
  if (separator.empty()) throw JinjaError(line, "split: empty separator");
  size_t at = 0;
  while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
    const size_t hit = s.find(separator, at);
    if (hit == std::string::npos) break;
    out.push_back(Value::from(s.substr(at, hit - at)));
    at = hit + separator.size();
  }
  out.push_back(Value::from(s.substr(at)));
  return out;
}

bool affix_match(const std::string& s, const Value& affix, bool prefix, int line) {
  if (affix.is(K::List)) {
    for (const Value& a : *affix.list)
      if (affix_match(s, a, prefix, line)) return true;
    return false;
  }
  const std::string a = need_string(affix, line, prefix ? "startswith" : "endswith");
  return prefix ? s.starts_with(a) : s.ends_with(a);
}

int64_t need_int(const Value& v, int line, const std::string& what) {
  if (v.is(K::Int)) return v.integer;
  if (v.is(K::Bool)) return v.boolean;
  type_error(line, what, v);
}

// Python's < on numbers and strings, for sort/min/max/dictsort.
bool less(const Value& a, const Value& b, int line) {
  if (a.is_number() && b.is_number()) return a.as_double() < b.as_double();
  if (a.is(K::String) && b.is(K::String)) return a.text < b.text;
  throw JinjaError(line, "cannot order '" + type_name(a) + "' and '" + type_name(b) + "'");
}

Value attribute_of(const Value& v, const std::string& name) {
  if ((v.is(K::Dict) || v.is(K::Namespace)))
    if (const Value* found = v.dict->find(name)) return *found;
  return Value::undefined(name);
}

Value string_method(const std::string& s, const std::string& name, Args& args, int line) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const Value chars = argument(args, 0, "chars");
    const std::string* set = chars.is(K::String) ? &chars.text : nullptr;
    return Value::from(strip_chars(s, name != "rstrip", name != "lstrip", set));
  }
  if (name == "split") {
    const Value maxsplit = argument(args, 1, "maxsplit", Value::from(int64_t{-1}));
    return Value::make_list(split(s, argument(args, 0, "sep", Value::none()), need_int(maxsplit, line, "split"), line));
  }
  if (name == "startswith" || name == "endswith")
    return Value::from(affix_match(s, argument(args, 0, "prefix"), name == "startswith", line));
  if (name == "replace") {
    const Value count = argument(args, 2, "count", Value::from(int64_t{-1}));
    return Value::from(replace_all(s, need_string(argument(args, 0, "old"), line, "replace"),
                                   need_string(argument(args, 1, "new"), line, "replace"), need_int(count, line, "replace")));
  }
  if (name == "upper") return Value::from(ascii_map(s, [](int c) { return std::toupper(c); }));
  if (name == "lower") return Value::from(ascii_map(s, [](int c) { return std::tolower(c); }));
  if (name == "title") return Value::from(title_case(s));
  if (name == "capitalize") return Value::from(capitalize(s));
  if (name == "find") {
    const size_t at = s.find(need_string(argument(args, 0, "sub"), line, "find"));
    return Value::from(at == std::string::npos ? int64_t{-1} : static_cast<int64_t>(split_code_points(s.substr(0, at)).size()));
  }
  if (name == "count") {
    const std::string sub = need_string(argument(args, 0, "sub"), line, "count");
    if (sub.empty()) return Value::from(static_cast<int64_t>(split_code_points(s).size() + 1));
    int64_t n = 0;
    for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
    return Value::from(n);
  }
  if (name == "join") {
    std::string out;
    bool first = true;
    for (const Value& item : iterate(argument(args, 0, "iterable"), line)) {
      out += (first ? "" : s) + need_string(item, line, "join");
      first = false;
    }
    return Value::from(out);
  }
  if (name == "isdigit" || name == "isalpha" || name == "isspace") {
    if (s.empty()) return Value::from(false);
    for (const std::string& cp : split_code_points(s)) {
      const unsigned char c = cp[0];
      const bool ok = name == "isspace" ? is_python_space(cp) : cp.size() == 1 && (name == "isdigit" ? std::isdigit(c) : std::isalpha(c));
      if (!ok) return Value::from(false);
    }
    return Value::from(true);
  }
  throw JinjaError(line, "method '" + name + "' is not supported on a string");
}

Value dict_method(const Value& self, const std::string& name, Args& args) {
  const Dict& d = *self.dict;
  if (name == "get") {
    const Value key = argument(args, 0, "key");
    const Value* found = key.is(K::String) ? d.find(key.text) : nullptr;
    return found ? *found : argument(args, 1, "default", Value::none());
  }
  List out;
  for (const auto& [k, v] : d.entries) {
    if (name == "items") out.push_back(Value::make_list({Value::from(k), v}));
    else if (name == "keys") out.push_back(Value::from(k));
    else out.push_back(v);
  }
  return Value::make_list(std::move(out));
}

// select/reject/selectattr/rejectattr: keep the items whose test result is `keep`.
Value filter_by_test(const Value& input, Args& args, bool by_attribute, bool keep, int line) {
  size_t next = 0;
  std::string attribute;
  if (by_attribute) attribute = need_string(argument(args, next++, "attribute"), line, "selectattr");
  const Value test = argument(args, next++, "test");
  std::string test_name = test.is(K::Undefined) ? "" : need_string(test, line, "select's test");
  if (!test_name.empty() && !has_test(test_name)) throw JinjaError(line, "test '" + test_name + "' is not supported");
  Args test_args;
  for (size_t i = next; i < args.positional.size(); ++i) test_args.positional.push_back(args.positional[i]);
  List out;
  for (const Value& item : iterate(input, line)) {
    const Value subject = by_attribute ? attribute_of(item, attribute) : item;
    Args a = test_args;
    const bool passed = test_name.empty() ? truthy(subject) : apply_test(test_name, subject, a, line);
    if (passed == keep) out.push_back(item);
  }
  return Value::make_list(std::move(out));
}

Value to_list(const Value& v, int line) { return Value::make_list(iterate(v, line)); }

}  // namespace

Value argument(Args& args, size_t index, const std::string& name, Value fallback) {
  if (index < args.positional.size()) return args.positional[index];
  for (auto& [n, v] : args.named)
    if (n == name) return v;
  return fallback;
}

bool has_filter(const std::string& name) { return filter_names().contains(name); }
bool has_test(const std::string& name) { return test_names().contains(name); }
bool has_method(const std::string& name) { return string_methods().contains(name) || dict_methods().contains(name); }

int64_t length_of(const Value& v, int line) {
  switch (v.kind) {
    case K::Undefined: return 0;
    case K::String: return static_cast<int64_t>(split_code_points(v.text).size());
    case K::List: return static_cast<int64_t>(v.list->size());
    case K::Dict: return static_cast<int64_t>(v.dict->entries.size());
    default: throw JinjaError(line, "object of type '" + type_name(v) + "' has no len()");
  }
}

List iterate(const Value& v, int line) {
  switch (v.kind) {
    case K::Undefined: return {};
    case K::List: return *v.list;
    case K::Dict: {
      List keys;
      for (const auto& [k, item] : v.dict->entries) keys.push_back(Value::from(k));
      return keys;
    }
    case K::String: {
      List chars;
      for (std::string& cp : split_code_points(v.text)) chars.push_back(Value::from(std::move(cp)));
      return chars;
    }
    default: throw JinjaError(line, "'" + type_name(v) + "' object is not iterable");
  }
}

Value get_method(const Value& self, const std::string& name) {
  const bool on_string = self.is(K::String) && string_methods().contains(name);
  const bool on_dict = self.is(K::Dict) && dict_methods().contains(name);
  if (!on_string && !on_dict) return Value::undefined(name);
  return Value::make_function(name, [self, name, on_string](Args& args, int line) {
    return on_string ? string_method(self.text, name, args, line) : dict_method(self, name, args);
  });
}

bool apply_test(const std::string& name, const Value& v, Args& args, int line) {
  const Value arg = argument(args, 0, "other");
  if (name == "defined") return !v.is(K::Undefined);
  if (name == "undefined") return v.is(K::Undefined);
  if (name == "none") return v.is(K::None);
  if (name == "string") return v.is(K::String);
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is(K::Int);
  if (name == "float") return v.is(K::Float);
  if (name == "boolean") return v.is(K::Bool);
  if (name == "true") return v.is(K::Bool) && v.boolean;
  if (name == "false") return v.is(K::Bool) && !v.boolean;
  if (name == "mapping") return v.is(K::Dict);
  if (name == "iterable") return v.is(K::List) || v.is(K::Dict) || v.is(K::String) || v.is(K::Undefined);
  if (name == "sequence") return v.is(K::List) || v.is(K::Dict) || v.is(K::String);
  if (name == "callable") return v.is(K::Function);
  if (name == "equalto" || name == "eq" || name == "==") return equal(v, arg);
  if (name == "ne" || name == "!=") return !equal(v, arg);
  if (name == "sameas") {
    if (v.kind != arg.kind) return false;
    if (v.is(K::Bool)) return v.boolean == arg.boolean;
    if (v.is(K::None)) return true;
    if (v.is(K::List)) return v.list == arg.list;
    if (v.is(K::Dict) || v.is(K::Namespace)) return v.dict == arg.dict;
    return equal(v, arg);  // small ints and interned strings are the same object in CPython
  }
  if (name == "in") {
    for (const Value& item : iterate(arg, line))
      if (arg.is(K::String) ? v.is(K::String) && arg.text.find(v.text) != std::string::npos : equal(item, v)) return true;
    return false;
  }
  if (name == "odd" || name == "even") return (need_int(v, line, name) % 2 != 0) == (name == "odd");
  if (name == "divisibleby") {
    const int64_t d = need_int(arg, line, name);
    if (d == 0) throw JinjaError(line, "divisibleby 0");
    return need_int(v, line, name) % d == 0;
  }
  if (name == "lower") return v.is(K::String) && v.text == ascii_map(v.text, [](int c) { return std::tolower(c); });
  if (name == "upper") return v.is(K::String) && v.text == ascii_map(v.text, [](int c) { return std::toupper(c); });
  if (name == "lt" || name == "lessthan") return less(v, arg, line);
  if (name == "gt" || name == "greaterthan") return less(arg, v, line);
  if (name == "le") return !less(arg, v, line);
  if (name == "ge") return !less(v, arg, line);
  throw JinjaError(line, "test '" + name + "' is not supported");
}

Value apply_filter(const std::string& name, const Value& v, Args& args, int line) {
  if (name == "safe") return v;
  if (name == "trim") {
    const Value chars = argument(args, 0, "chars");
    return Value::from(strip_chars(to_str(v), true, true, chars.is(K::String) ? &chars.text : nullptr));
  }
  if (name == "length" || name == "count") return Value::from(length_of(v, line));
  if (name == "string") return Value::from(to_str(v));
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    Args none;
    return string_method(to_str(v), name, none, line);
  }
  if (name == "replace") {
    Args a = args;
    return string_method(to_str(v), "replace", a, line);
  }
  if (name == "tojson") {
    const Value indent = argument(args, 0, "indent", Value::none());
    const Value sort_keys = argument(args, 3, "sort_keys", Value::from(false));
    for (const auto& [n, value] : args.named)
      if (n == "separators" && !value.is(K::None)) throw JinjaError(line, "tojson's separators argument is not supported");
    return Value::from(to_json(v, indent.is(K::None) ? 0 : static_cast<int>(need_int(indent, line, "tojson's indent")),
                               truthy(sort_keys), line));
  }
  if (name == "default" || name == "d") {
    const Value fallback = argument(args, 0, "default_value", Value::from(std::string()));
    const bool boolean = truthy(argument(args, 1, "boolean", Value::from(false)));
    return v.is(K::Undefined) || (boolean && !truthy(v)) ? fallback : v;
  }
  if (name == "first" || name == "last") {
    const List items = iterate(v, line);
    if (items.empty()) return Value::undefined("the " + name + " item of an empty sequence");
    return name == "first" ? items.front() : items.back();
  }
  if (name == "join") {
    const std::string sep = to_str(argument(args, 0, "d", Value::from(std::string())));
    const Value attribute = argument(args, 1, "attribute");
    std::string out;
    bool first = true;
    for (const Value& item : iterate(v, line)) {
      out += (first ? "" : sep) + to_str(attribute.is(K::Undefined) ? item : attribute_of(item, to_str(attribute)));
      first = false;
    }
    return Value::from(out);
  }
  if (name == "list") return to_list(v, line);
  if (name == "items") {
    if (v.is(K::Undefined)) return Value::make_list({});
    if (!v.is(K::Dict)) type_error(line, "filter 'items'", v);
    Args none;
    return dict_method(v, "items", none);
  }
  if (name == "dictsort") {
    if (!v.is(K::Dict)) type_error(line, "filter 'dictsort'", v);
    Args none;
    List items = *dict_method(v, "items", none).list;
    std::stable_sort(items.begin(), items.end(),
                     [line](const Value& a, const Value& b) { return less((*a.list)[0], (*b.list)[0], line); });
    return Value::make_list(std::move(items));
  }
  if (name == "selectattr" || name == "rejectattr" || name == "select" || name == "reject")
    return filter_by_test(v, args, name.ends_with("attr"), name.starts_with("select"), line);
  if (name == "map") {
    const Value attribute = argument(args, 99, "attribute");
    List out;
    if (!attribute.is(K::Undefined)) {
      const Value fallback = argument(args, 99, "default");
      for (const Value& item : iterate(v, line)) {
        Value a = attribute_of(item, to_str(attribute));
        out.push_back(a.is(K::Undefined) && !fallback.is(K::Undefined) ? fallback : a);
      }
      return Value::make_list(std::move(out));
    }
    const std::string filter = need_string(argument(args, 0, "filter"), line, "map's filter");
    if (!has_filter(filter) || filter == "map") throw JinjaError(line, "filter '" + filter + "' is not supported");
    Args rest;
    for (size_t i = 1; i < args.positional.size(); ++i) rest.positional.push_back(args.positional[i]);
    for (const Value& item : iterate(v, line)) {
      Args a = rest;
      out.push_back(apply_filter(filter, item, a, line));
    }
    return Value::make_list(std::move(out));
  }
  if (name == "int") {
    if (v.is(K::Int)) return v;
    if (v.is(K::Bool)) return Value::from(int64_t{v.boolean});
    if (v.is(K::Float)) return Value::from(static_cast<int64_t>(v.number));
    if (v.is(K::String)) {
      try {
        size_t used = 0;
        const std::string t = strip_chars(v.text, true, true, nullptr);
        const long long n = std::stoll(t, &used);
        if (used == t.size()) return Value::from(static_cast<int64_t>(n));
      } catch (const std::exception&) {
      }
    }
    return argument(args, 0, "default", Value::from(int64_t{0}));
  }
  if (name == "float") {
    if (v.is_number()) return Value::from(v.as_double());
    if (v.is(K::String)) {
      try {
        size_t used = 0;
        const std::string t = strip_chars(v.text, true, true, nullptr);
        const double d = std::stod(t, &used);
        if (used == t.size()) return Value::from(d);
      } catch (const std::exception&) {
      }
    }
    return argument(args, 0, "default", Value::from(0.0));
  }
  if (name == "abs") {
    if (v.is(K::Int)) return Value::from(v.integer < 0 ? -v.integer : v.integer);
    if (v.is(K::Float)) return Value::from(std::fabs(v.number));
    type_error(line, "filter 'abs'", v);
  }
  if (name == "reverse") {
    if (v.is(K::String)) {
      std::vector<std::string> cps = split_code_points(v.text);
      std::string out;
      for (auto it = cps.rbegin(); it != cps.rend(); ++it) out += *it;
      return Value::from(out);
    }
    List items = iterate(v, line);
    std::reverse(items.begin(), items.end());
    return Value::make_list(std::move(items));
  }
  if (name == "unique") {
    List out;
    for (const Value& item : iterate(v, line))
      if (std::none_of(out.begin(), out.end(), [&](const Value& o) { return equal(o, item); })) out.push_back(item);
    return Value::make_list(std::move(out));
  }
  if (name == "sum") {
    Value total = Value::from(int64_t{0});
    for (const Value& item : iterate(v, line)) {
      if (!item.is_number()) type_error(line, "filter 'sum'", item);
      if (total.is(K::Int) && item.is(K::Int)) total.integer += item.integer;
      else total = Value::from(total.as_double() + item.as_double());
    }
    return total;
  }
  if (name == "min" || name == "max") {
    const List items = iterate(v, line);
    if (items.empty()) return Value::undefined("the " + name + " of an empty sequence");
    Value best = items[0];
    for (const Value& item : items)
      if (name == "min" ? less(item, best, line) : less(best, item, line)) best = item;
    return best;
  }
  if (name == "batch") {
    const int64_t size = need_int(argument(args, 0, "linecount"), line, "batch");
    if (size <= 0) throw JinjaError(line, "batch size must be positive");
    List out, current;
    for (const Value& item : iterate(v, line)) {
      current.push_back(item);
      if (static_cast<int64_t>(current.size()) == size) {
        out.push_back(Value::make_list(std::move(current)));
        current.clear();
      }
    }
    if (!current.empty()) out.push_back(Value::make_list(std::move(current)));
    return Value::make_list(std::move(out));
  }
  throw JinjaError(line, "filter '" + name + "' is not supported");
}

}  // namespace frugal::jinja
