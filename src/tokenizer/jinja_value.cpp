#include "tokenizer/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "core/escape.h"

namespace frugal::jinja {

namespace {

constexpr int kMaxNesting = 100;  // repr/json/== of values nested deeper (or cyclic) is an error

void check_depth(int depth, int line) {
  if (depth > kMaxNesting) throw JinjaError(line, "a value is nested too deeply (or contains itself)");
}

bool equal_at(const Value& a, const Value& b, int depth) {
  check_depth(depth, 0);
  using K = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.kind != K::Float && b.kind != K::Float)
      return (a.kind == K::Bool ? a.boolean : a.integer) == (b.kind == K::Bool ? b.boolean : b.integer);
    return a.as_double() == b.as_double();
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case K::Undefined:
    case K::None:
      return true;
    case K::String:
      return a.text == b.text;
    case K::List:
      if (a.list->size() != b.list->size()) return false;
      for (size_t i = 0; i < a.list->size(); ++i)
        if (!equal_at((*a.list)[i], (*b.list)[i], depth + 1)) return false;
      return true;
    case K::Dict: {
      if (a.dict->entries.size() != b.dict->entries.size()) return false;
      for (const auto& [k, v] : a.dict->entries) {
        const Value* other = b.dict->find(k);
        if (!other || !equal_at(v, *other, depth + 1)) return false;
      }
      return true;
    }
    case K::Namespace:
      return a.dict == b.dict;
    case K::Function:
      return a.function == b.function;
    default:
      return false;
  }
}

std::string repr_string(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos, has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == quote) out += std::string("\\") + static_cast<char>(c);
    else append_escaping_control(out, c);
  }
  return out + quote;
}

std::string repr_at(const Value& v, int depth) {
  check_depth(depth, 0);
  using K = Value::Kind;
  switch (v.kind) {
    case K::String:
      return repr_string(v.text);
    case K::List: {
      std::string out = "[";
      for (size_t i = 0; i < v.list->size(); ++i) out += (i ? ", " : "") + repr_at((*v.list)[i], depth + 1);
      return out + "]";
    }
    case K::Dict:
    case K::Namespace: {
      std::string out = v.kind == K::Namespace ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& [k, item] : v.dict->entries) {
        out += (first ? "" : ", ") + repr_string(k) + ": " + repr_at(item, depth + 1);
        first = false;
      }
      return out + (v.kind == K::Namespace ? "}>" : "}");
    }
    default:
      return to_str(v);
  }
}

void json_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void json_at(std::string& out, const Value& v, int indent, bool sort_keys, int line, int depth) {
  check_depth(depth, line);
  using K = Value::Kind;
  const std::string newline = indent > 0 ? "\n" + std::string(static_cast<size_t>(indent) * (depth + 1), ' ') : "";
  const std::string close = indent > 0 ? "\n" + std::string(static_cast<size_t>(indent) * depth, ' ') : "";
  const std::string item_sep = indent > 0 ? "," : ", ";
  switch (v.kind) {
    case K::None: out += "null"; return;
    case K::Bool: out += v.boolean ? "true" : "false"; return;
    case K::Int: out += std::to_string(v.integer); return;
    case K::Float:
      if (std::isnan(v.number)) out += "NaN";
      else if (std::isinf(v.number)) out += v.number > 0 ? "Infinity" : "-Infinity";
      else out += float_repr(v.number);
      return;
    case K::String: json_string(out, v.text); return;
    case K::List: {
      if (v.list->empty()) { out += "[]"; return; }
      out += "[";
      for (size_t i = 0; i < v.list->size(); ++i) {
        out += (i ? item_sep : "") + newline;
        json_at(out, (*v.list)[i], indent, sort_keys, line, depth + 1);
      }
      out += close + "]";
      return;
    }
    case K::Dict: {
      if (v.dict->entries.empty()) { out += "{}"; return; }
      std::vector<const std::pair<std::string, Value>*> items;
      for (const auto& e : v.dict->entries) items.push_back(&e);
      if (sort_keys) std::stable_sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
      out += "{";
      for (size_t i = 0; i < items.size(); ++i) {
        out += (i ? item_sep : "") + newline;
        json_string(out, items[i]->first);
        out += ": ";
        json_at(out, items[i]->second, indent, sort_keys, line, depth + 1);
      }
      out += close + "}";
      return;
    }
    default:
      throw JinjaError(line, "Object of type " + type_name(v) + " is not JSON serializable");
  }
}

// Length of the UTF-8 sequence starting with byte c (1 for a stray continuation byte).
size_t sequence_length(unsigned char c) {
  if (c >= 0xF0) return 4;
  if (c >= 0xE0) return 3;
  if (c >= 0xC0) return 2;
  return 1;
}

}  // namespace

Value Value::undefined(std::string what) {
  Value v;
  v.text = std::move(what);
  return v;
}
Value Value::none() {
  Value v;
  v.kind = Kind::None;
  return v;
}
Value Value::from(bool b) {
  Value v;
  v.kind = Kind::Bool;
  v.boolean = b;
  return v;
}
Value Value::from(int64_t i) {
  Value v;
  v.kind = Kind::Int;
  v.integer = i;
  return v;
}
Value Value::from(double d) {
  Value v;
  v.kind = Kind::Float;
  v.number = d;
  return v;
}
Value Value::from(std::string s) {
  Value v;
  v.kind = Kind::String;
  v.text = std::move(s);
  return v;
}
Value Value::make_list(List items) {
  Value v;
  v.kind = Kind::List;
  v.list = std::make_shared<List>(std::move(items));
  return v;
}
Value Value::make_dict(Dict d) {
  Value v;
  v.kind = Kind::Dict;
  v.dict = std::make_shared<Dict>(std::move(d));
  return v;
}
Value Value::make_namespace(Dict d) {
  Value v = make_dict(std::move(d));
  v.kind = Kind::Namespace;
  return v;
}
Value Value::make_function(std::string name, std::function<Value(Args&, int)> call) {
  Value v;
  v.kind = Kind::Function;
  v.function = std::make_shared<Function>(Function{std::move(name), std::move(call)});
  return v;
}

double Value::as_double() const {
  if (kind == Kind::Float) return number;
  if (kind == Kind::Bool) return boolean ? 1 : 0;
  return static_cast<double>(integer);
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : entries)
    if (k == key) return &v;
  return nullptr;
}

void Dict::set(const std::string& key, Value v) {
  for (auto& [k, old] : entries)
    if (k == key) {
      old = std::move(v);
      return;
    }
  entries.emplace_back(key, std::move(v));
}

bool truthy(const Value& v) {
  using K = Value::Kind;
  switch (v.kind) {
    case K::Undefined:
    case K::None: return false;
    case K::Bool: return v.boolean;
    case K::Int: return v.integer != 0;
    case K::Float: return v.number != 0;
    case K::String: return !v.text.empty();
    case K::List: return !v.list->empty();
    case K::Dict: return !v.dict->entries.empty();
    default: return true;
  }
}

bool equal(const Value& a, const Value& b) { return equal_at(a, b, 0); }

std::string type_name(const Value& v) {
  using K = Value::Kind;
  switch (v.kind) {
    case K::Undefined: return "Undefined";
    case K::None: return "NoneType";
    case K::Bool: return "bool";
    case K::Int: return "int";
    case K::Float: return "float";
    case K::String: return "str";
    case K::List: return "list";
    case K::Dict: return "dict";
    case K::Namespace: return "Namespace";
    case K::Function: return "function";
  }
  return "object";
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  // The shortest digits that round-trip, laid out as Python's repr does: positional for
  // exponents -4..15, scientific with a two-digit exponent otherwise, ".0" on whole numbers.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  const size_t e = sci.find('e');
  std::string mantissa = sci.substr(0, e);
  const int exponent = std::stoi(sci.substr(e + 1));
  const bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char c : mantissa)
    if (c != '.') digits += c;
  std::string out;
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out = "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exponent + 1) {
      out = digits + std::string(static_cast<size_t>(exponent + 1 - static_cast<int>(digits.size())), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<size_t>(exponent + 1)) + "." + digits.substr(static_cast<size_t>(exponent + 1));
    }
  } else {
    out = digits.substr(0, 1) + (digits.size() > 1 ? "." + digits.substr(1) : "");
    char ebuf[16];
    std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    out += ebuf;
  }
  return (negative ? "-" : "") + out;
}

std::string to_str(const Value& v) {
  using K = Value::Kind;
  switch (v.kind) {
    case K::Undefined: return "";
    case K::None: return "None";
    case K::Bool: return v.boolean ? "True" : "False";
    case K::Int: return std::to_string(v.integer);
    case K::Float: return float_repr(v.number);
    case K::String: return v.text;
    case K::Function: return "<function " + v.function->name + ">";
    default: return repr_at(v, 0);
  }
}

std::string to_repr(const Value& v) { return repr_at(v, 0); }

std::string to_json(const Value& v, int indent, bool sort_keys, int line) {
  std::string out;
  json_at(out, v, indent, sort_keys, line, 0);
  return out;
}

std::vector<std::string> split_code_points(std::string_view s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    const size_t n = std::min(sequence_length(static_cast<unsigned char>(s[i])), s.size() - i);
    out.emplace_back(s.substr(i, n));
    i += n;
  }
  return out;
}

bool is_python_space(std::string_view cp) {
  if (cp.size() == 1) {
    const unsigned char c = cp[0];
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
  }
  // The non-ASCII code points Python's str.isspace() accepts.
  static const char* const kSpaces[] = {"\u0085", "\u00a0", "\u1680", "\u2000", "\u2001", "\u2002", "\u2003",
                                        "\u2004", "\u2005", "\u2006", "\u2007", "\u2008", "\u2009", "\u200a",
                                        "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"};
  for (const char* s : kSpaces)
    if (cp == s) return true;
  return false;
}

std::string strip_chars(std::string_view s, bool left, bool right, const std::string* chars) {
  const std::vector<std::string> cps = split_code_points(s);
  const std::vector<std::string> set = chars ? split_code_points(*chars) : std::vector<std::string>{};
  auto strippable = [&](const std::string& cp) {
    return chars ? std::find(set.begin(), set.end(), cp) != set.end() : is_python_space(cp);
  };
  size_t begin = 0, end = cps.size();
  if (left)
    while (begin < end && strippable(cps[begin])) ++begin;
  if (right)
    while (end > begin && strippable(cps[end - 1])) --end;
  std::string out;
  for (size_t i = begin; i < end; ++i) out += cps[i];
  return out;
}

}  // namespace frugal::jinja
