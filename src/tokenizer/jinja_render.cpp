#include "tokenizer/jinja_render.h"

#include <cmath>
#include <unordered_map>

#include "tokenizer/jinja_builtins.h"

namespace frugal::jinja {

namespace {

using K = Value::Kind;
using Scope = std::unordered_map<std::string, Value>;

constexpr int64_t kMaxRange = 100000;  // jinja2's sandbox refuses larger ranges

enum class Flow { Normal, Break, Continue };

[[noreturn]] void fail_undefined(const Value& v, int line) {
  throw JinjaError(line, v.text.empty() ? "a value is undefined" : v.text);
}

[[noreturn]] void operand_error(const std::string& op, const Value& a, const Value& b, int line) {
  if (a.is(K::Undefined)) fail_undefined(a, line);
  if (b.is(K::Undefined)) fail_undefined(b, line);
  throw JinjaError(line, "unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
}

int64_t as_int(const Value& v) { return v.is(K::Bool) ? v.boolean : v.integer; }

// Python's slice.indices(): the positions a[start:stop:step] visits.
std::vector<int64_t> slice_positions(int64_t length, const Value& start, const Value& stop, const Value& step, int line) {
  auto need = [line](const Value& v) {
    if (!v.is(K::Int) && !v.is(K::Bool)) throw JinjaError(line, "slice indices must be integers or none");
    return as_int(v);
  };
  const int64_t s = step.is(K::Undefined) || step.is(K::None) ? 1 : need(step);
  if (s == 0) throw JinjaError(line, "slice step cannot be zero");
  auto clamp = [&](const Value& v, int64_t fallback) {
    if (v.is(K::Undefined) || v.is(K::None)) return fallback;
    int64_t i = need(v);
    if (i < 0) i += length;
    if (s > 0) return std::clamp<int64_t>(i, 0, length);
    return std::clamp<int64_t>(i, -1, length - 1);
  };
  const int64_t b = clamp(start, s > 0 ? 0 : length - 1), e = clamp(stop, s > 0 ? length : -1);
  std::vector<int64_t> out;
  for (int64_t i = b; s > 0 ? i < e : i > e; i += s) out.push_back(i);
  return out;
}

// Whether `v` holds the dict or namespace `target` anywhere inside. Values never form cycles (the one
// mutation, a namespace attribute, refuses to make one), so the walk ends.
bool holds(const Value& v, const Dict* target) {
  if (v.is(Value::Kind::Dict) || v.is(Value::Kind::Namespace)) {
    if (v.dict.get() == target) return true;
    for (const auto& entry : v.dict->entries)
      if (holds(entry.second, target)) return true;
  } else if (v.is(Value::Kind::List)) {
    for (const Value& item : *v.list)
      if (holds(item, target)) return true;
  }
  return false;
}

class Renderer {
 public:
  Renderer(const Dict& variables, const RenderSettings& settings) : settings_(settings) {
    scopes_.emplace_back();
    for (const auto& [k, v] : variables.entries) scopes_.back()[k] = v;
  }

  std::string run(const Template& tpl) {
    exec_body(tpl.body);
    return std::move(out_);
  }

 private:
  void step(int line) {
    if (++steps_ > settings_.max_steps)
      throw JinjaError(line, "rendering takes more than " + std::to_string(settings_.max_steps) + " steps");
  }

  void emit(const std::string& s, int line) {
    if (out_.size() + s.size() > settings_.max_output_bytes)
      throw JinjaError(line, "the rendered text exceeds " + std::to_string(settings_.max_output_bytes >> 20) + " MiB");
    out_ += s;
  }

  Flow exec_body(const std::vector<Stmt>& body) {
    for (const Stmt& s : body) {
      const Flow f = exec(s);
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

  Flow exec(const Stmt& s) {
    try {
      return exec_unlocated(s);
    } catch (const JinjaError& e) {
      if (e.line > 0) throw;
      throw JinjaError(s.line, e.what());  // value helpers (repr, ==) know no line
    }
  }

  Flow exec_unlocated(const Stmt& s) {
    step(s.line);
    switch (s.kind) {
      case Stmt::Kind::Text:
        emit(s.text, s.line);
        return Flow::Normal;
      case Stmt::Kind::Output:
        emit(to_str(eval(*s.expr)), s.line);
        return Flow::Normal;
      case Stmt::Kind::If:
        for (const auto& [condition, body] : s.branches)
          if (truthy(eval(*condition))) return exec_body(body);
        return exec_body(s.body);
      case Stmt::Kind::For:
        return exec_for(s);
      case Stmt::Kind::Set: {
        Value v = eval(*s.expr);
        if (s.targets.size() == 1) {
          scopes_.back()[s.targets[0]] = std::move(v);
        } else {
          const Value ns = lookup(s.targets[0]);
          if (!ns.is(K::Namespace)) throw JinjaError(s.line, "cannot assign attribute on non-namespace object");
          // Values hold each other through shared_ptr, so a cycle would never be freed (LeakSanitizer
          // found `{% set ns.a = ns %}` leaking); Python's collector frees it, we refuse it.
          if (holds(v, ns.dict.get())) throw JinjaError(s.line, "a namespace cannot contain itself");
          ns.dict->set(s.targets[1], std::move(v));
        }
        return Flow::Normal;
      }
      case Stmt::Kind::Break:
        return Flow::Break;
      case Stmt::Kind::Continue:
        return Flow::Continue;
      case Stmt::Kind::Generation:
        return exec_body(s.body);
    }
    return Flow::Normal;
  }

  void bind(Scope& scope, const std::vector<std::string>& targets, const Value& item, int line) {
    if (targets.size() == 1) {
      scope[targets[0]] = item;
      return;
    }
    const List parts = iterate(item, line);
    if (parts.size() != targets.size())
      throw JinjaError(line, "cannot unpack " + std::to_string(parts.size()) + " values into " +
                                 std::to_string(targets.size()) + " loop variables");
    for (size_t i = 0; i < targets.size(); ++i) scope[targets[i]] = parts[i];
  }

  Flow exec_for(const Stmt& s) {
    List items;
    for (const Value& item : iterate(eval(*s.expr), s.line)) {
      if (s.condition) {
        scopes_.emplace_back();
        bind(scopes_.back(), s.targets, item, s.line);
        const bool keep = truthy(eval(*s.condition));
        scopes_.pop_back();
        if (!keep) continue;
      }
      items.push_back(item);
    }
    if (items.empty()) return exec_body(s.else_body);
    const int64_t n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      step(s.line);  // an iteration counts even when its body is empty
      Dict loop;
      loop.set("index0", Value::from(i));
      loop.set("index", Value::from(i + 1));
      loop.set("revindex0", Value::from(n - i - 1));
      loop.set("revindex", Value::from(n - i));
      loop.set("first", Value::from(i == 0));
      loop.set("last", Value::from(i == n - 1));
      loop.set("length", Value::from(n));
      loop.set("depth", Value::from(int64_t{1}));
      loop.set("depth0", Value::from(int64_t{0}));
      if (i > 0) loop.set("previtem", items[static_cast<size_t>(i - 1)]);
      if (i + 1 < n) loop.set("nextitem", items[static_cast<size_t>(i + 1)]);
      scopes_.emplace_back();  // each iteration has its own scope, as in jinja2
      bind(scopes_.back(), s.targets, items[static_cast<size_t>(i)], s.line);
      scopes_.back()["loop"] = Value::make_dict(std::move(loop));
      const Flow f = exec_body(s.body);
      scopes_.pop_back();
      if (f == Flow::Break) break;
    }
    return Flow::Normal;
  }

  Value lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto found = it->find(name);
      if (found != it->end()) return found->second;
    }
    return Value::undefined("'" + name + "' is undefined");
  }

  Value global_function(const std::string& name) {
    if (name == "range") return Value::make_function(name, [](Args& a, int line) { return range(a, line); });
    if (name == "namespace" || name == "dict")
      return Value::make_function(name, [name](Args& a, int line) {
        Dict d;
        if (!a.positional.empty()) {
          if (a.positional.size() > 1 || !a.positional[0].is(K::Dict))
            throw JinjaError(line, name + "() takes keyword arguments or one dict");
          d = *a.positional[0].dict;
        }
        for (auto& [k, v] : a.named) d.set(k, v);
        return name == "dict" ? Value::make_dict(std::move(d)) : Value::make_namespace(std::move(d));
      });
    if (name == "raise_exception")
      return Value::make_function(name, [](Args& a, int line) -> Value {
        throw JinjaError(line, to_str(argument(a, 0, "message")));
      });
    if (name == "strftime_now")
      return Value::make_function(name, [this](Args& a, int line) {
        const Value format = argument(a, 0, "format");
        if (!format.is(K::String)) throw JinjaError(line, "strftime_now needs a format string");
        char buf[512];
        const size_t n = std::strftime(buf, sizeof buf, format.text.c_str(), &settings_.now);
        if (n == 0 && !format.text.empty()) throw JinjaError(line, "strftime_now: the formatted date is too long");
        return Value::from(std::string(buf, n));
      });
    return Value::undefined("'" + name + "' is undefined");
  }

  static Value range(Args& a, int line) {
    std::vector<int64_t> bounds;
    for (const Value& v : a.positional) {
      if (!v.is(K::Int) && !v.is(K::Bool)) throw JinjaError(line, "range() needs integers");
      bounds.push_back(as_int(v));
    }
    if (bounds.empty() || bounds.size() > 3 || !a.named.empty()) throw JinjaError(line, "range() takes 1 to 3 integers");
    const int64_t start = bounds.size() > 1 ? bounds[0] : 0, stop = bounds.size() > 1 ? bounds[1] : bounds[0];
    const int64_t stride = bounds.size() > 2 ? bounds[2] : 1;
    if (stride == 0) throw JinjaError(line, "range() step must not be zero");
    const double count = std::ceil((static_cast<double>(stop) - static_cast<double>(start)) / static_cast<double>(stride));
    if (count > kMaxRange) throw JinjaError(line, "range too big: over " + std::to_string(kMaxRange) + " items");
    List out;
    for (int64_t i = start; stride > 0 ? i < stop : i > stop; i += stride) out.push_back(Value::from(i));
    return Value::make_list(std::move(out));
  }

  Args eval_args(const Expr& e, size_t first) {
    Args args;
    for (size_t i = first; i < e.children.size(); ++i) args.positional.push_back(eval(*e.children[i]));
    for (const auto& [name, arg] : e.named) args.named.emplace_back(name, eval(*arg));
    return args;
  }

  Value get_attr(const Value& object, const std::string& name, int line) {
    if (object.is(K::Undefined)) fail_undefined(object, line);
    // jinja2 looks an attribute up as a Python attribute first (so dict.items is the method),
    // then as an item.
    Value method = get_method(object, name);
    if (!method.is(K::Undefined)) return method;
    if (object.is(K::Dict) || object.is(K::Namespace)) {
      if (const Value* found = object.dict->find(name)) return *found;
      return Value::undefined("'" + std::string(object.is(K::Dict) ? "dict object" : "Namespace") +
                              "' has no attribute '" + name + "'");
    }
    return Value::undefined("'" + type_name(object) + " object' has no attribute '" + name + "'");
  }

  Value get_item(const Value& object, const Value& key, int line) {
    if (object.is(K::Undefined)) fail_undefined(object, line);
    if ((object.is(K::List) || object.is(K::String)) && (key.is(K::Int) || key.is(K::Bool))) {
      const int64_t length = length_of(object, line);
      int64_t i = as_int(key);
      if (i < 0) i += length;
      if (i < 0 || i >= length)
        return Value::undefined("'" + type_name(object) + " object' has no element " + std::to_string(as_int(key)));
      if (object.is(K::List)) return (*object.list)[static_cast<size_t>(i)];
      return Value::from(split_code_points(object.text)[static_cast<size_t>(i)]);
    }
    if ((object.is(K::Dict) || object.is(K::Namespace)) && key.is(K::String)) {
      if (const Value* found = object.dict->find(key.text)) return *found;
    }
    if (key.is(K::String)) return get_attr(object, key.text, line);
    return Value::undefined("'" + type_name(object) + " object' has no element " + to_repr(key));
  }

  Value slice(const Expr& e) {
    const Value object = eval(*e.children[0]);
    auto part = [&](size_t i) { return e.children[i] ? eval(*e.children[i]) : Value::undefined(); };
    const Value start = part(1), stop = part(2), stride = part(3);
    if (object.is(K::Undefined)) fail_undefined(object, e.line);
    if (object.is(K::List)) {
      List out;
      for (int64_t i : slice_positions(static_cast<int64_t>(object.list->size()), start, stop, stride, e.line))
        out.push_back((*object.list)[static_cast<size_t>(i)]);
      return Value::make_list(std::move(out));
    }
    if (object.is(K::String)) {
      const std::vector<std::string> cps = split_code_points(object.text);
      std::string out;
      for (int64_t i : slice_positions(static_cast<int64_t>(cps.size()), start, stop, stride, e.line))
        out += cps[static_cast<size_t>(i)];
      return Value::from(out);
    }
    throw JinjaError(e.line, "'" + type_name(object) + "' object is not subscriptable");
  }

  bool contains(const Value& container, const Value& needle, int line) {
    switch (container.kind) {
      case K::Undefined: return false;
      case K::String:
        if (!needle.is(K::String))
          throw JinjaError(line, "'in <string>' requires string as left operand, not " + type_name(needle));
        return container.text.find(needle.text) != std::string::npos;
      case K::List:
        for (const Value& item : *container.list)
          if (equal(item, needle)) return true;
        return false;
      case K::Dict:
        return needle.is(K::String) && container.dict->find(needle.text) != nullptr;
      default:
        throw JinjaError(line, "argument of type '" + type_name(container) + "' is not iterable");
    }
  }

  Value arithmetic(const std::string& op, const Value& a, const Value& b, int line) {
    if (!a.is_number() || !b.is_number()) operand_error(op, a, b, line);
    const bool integers = !a.is(K::Float) && !b.is(K::Float);
    if (op == "/") {
      if (b.as_double() == 0) throw JinjaError(line, "division by zero");
      return Value::from(a.as_double() / b.as_double());
    }
    if (integers) {
      const int64_t x = as_int(a), y = as_int(b);
      int64_t r = 0;
      if (op == "+" && !__builtin_add_overflow(x, y, &r)) return Value::from(r);
      if (op == "-" && !__builtin_sub_overflow(x, y, &r)) return Value::from(r);
      if (op == "*" && !__builtin_mul_overflow(x, y, &r)) return Value::from(r);
      if (op == "//" || op == "%") {
        if (y == 0) throw JinjaError(line, "integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) throw JinjaError(line, "integer overflow");
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {  // Python floors
          --q;
          m += y;
        }
        return Value::from(op == "//" ? q : m);
      }
      if (op == "**" && y >= 0) {
        int64_t p = 1;
        bool overflow = false;
        for (int64_t i = 0; i < y && !overflow; ++i) overflow = __builtin_mul_overflow(p, x, &p);
        if (!overflow) return Value::from(p);
      }
      if (op != "**" || y >= 0) throw JinjaError(line, "integer overflow in '" + op + "'");
    }
    const double x = a.as_double(), y = b.as_double();
    if (op == "+") return Value::from(x + y);
    if (op == "-") return Value::from(x - y);
    if (op == "*") return Value::from(x * y);
    if (op == "**") return Value::from(std::pow(x, y));
    if (y == 0) throw JinjaError(line, "float division by zero");
    const double q = std::floor(x / y);
    return Value::from(op == "//" ? q : x - q * y);
  }

  Value repeat(const Value& seq, int64_t times, int line) {
    times = std::max<int64_t>(times, 0);
    const size_t unit = seq.is(K::String) ? seq.text.size() : seq.list->size();
    if (unit != 0 && static_cast<uint64_t>(times) > settings_.max_output_bytes / unit)
      throw JinjaError(line, "a repeated sequence would exceed the output bound");
    if (seq.is(K::String)) {
      std::string out;
      for (int64_t i = 0; i < times; ++i) out += seq.text;
      return Value::from(out);
    }
    List out;
    for (int64_t i = 0; i < times; ++i) out.insert(out.end(), seq.list->begin(), seq.list->end());
    return Value::make_list(std::move(out));
  }

  Value binary(const Expr& e) {
    const std::string& op = e.name;
    const Value a = eval(*e.children[0]);
    const Value b = eval(*e.children[1]);
    const int line = e.line;
    if (op == "~") return Value::from(to_str(a) + to_str(b));
    if (op == "==") return Value::from(equal(a, b));
    if (op == "!=") return Value::from(!equal(a, b));
    if (op == "in") return Value::from(contains(b, a, line));
    if (op == "notin") return Value::from(!contains(b, a, line));
    if (op == "<" || op == "<=" || op == ">" || op == ">=") {
      int order = 0;
      if (a.is_number() && b.is_number()) order = a.as_double() < b.as_double() ? -1 : a.as_double() > b.as_double() ? 1 : 0;
      else if (a.is(K::String) && b.is(K::String)) order = a.text.compare(b.text);
      else operand_error(op, a, b, line);
      return Value::from(op == "<" ? order < 0 : op == "<=" ? order <= 0 : op == ">" ? order > 0 : order >= 0);
    }
    if (op == "+") {
      if (a.is(K::String) && b.is(K::String)) {
        if (a.text.size() + b.text.size() > settings_.max_output_bytes)
          throw JinjaError(line, "a string would exceed the output bound");
        return Value::from(a.text + b.text);
      }
      if (a.is(K::List) && b.is(K::List)) {
        List out = *a.list;
        out.insert(out.end(), b.list->begin(), b.list->end());
        return Value::make_list(std::move(out));
      }
    }
    if (op == "*") {
      if ((a.is(K::String) || a.is(K::List)) && (b.is(K::Int) || b.is(K::Bool))) return repeat(a, as_int(b), line);
      if ((b.is(K::String) || b.is(K::List)) && (a.is(K::Int) || a.is(K::Bool))) return repeat(b, as_int(a), line);
    }
    return arithmetic(op, a, b, line);
  }

  Value eval(const Expr& e) {
    step(e.line);
    switch (e.kind) {
      case Expr::Kind::Literal:
        return e.literal;
      case Expr::Kind::Name: {
        Value v = lookup(e.name);
        return v.is(K::Undefined) ? global_function(e.name) : v;
      }
      case Expr::Kind::Attr:
        return get_attr(eval(*e.children[0]), e.name, e.line);
      case Expr::Kind::Item: {
        const Value object = eval(*e.children[0]);
        return get_item(object, eval(*e.children[1]), e.line);
      }
      case Expr::Kind::Slice:
        return slice(e);
      case Expr::Kind::Call: {
        const Value callee = eval(*e.children[0]);
        if (callee.is(K::Undefined)) fail_undefined(callee, e.line);
        if (!callee.is(K::Function)) throw JinjaError(e.line, "'" + type_name(callee) + "' object is not callable");
        Args args = eval_args(e, 1);
        return callee.function->call(args, e.line);
      }
      case Expr::Kind::Filter: {
        const Value input = eval(*e.children[0]);
        Args args = eval_args(e, 1);
        return apply_filter(e.name, input, args, e.line);
      }
      case Expr::Kind::Test: {
        const Value input = eval(*e.children[0]);
        Args args = eval_args(e, 1);
        return Value::from(apply_test(e.name, input, args, e.line) != e.negated);
      }
      case Expr::Kind::Not:
        return Value::from(!truthy(eval(*e.children[0])));
      case Expr::Kind::Negate:
      case Expr::Kind::Plus: {
        const Value v = eval(*e.children[0]);
        if (v.is(K::Int) || v.is(K::Bool)) {
          const int64_t i = as_int(v);
          if (e.kind == Expr::Kind::Negate && i == INT64_MIN) throw JinjaError(e.line, "integer overflow");
          return Value::from(e.kind == Expr::Kind::Negate ? -i : i);
        }
        if (v.is(K::Float)) return Value::from(e.kind == Expr::Kind::Negate ? -v.number : v.number);
        if (v.is(K::Undefined)) fail_undefined(v, e.line);
        throw JinjaError(e.line, "bad operand type for unary " + std::string(e.kind == Expr::Kind::Negate ? "-" : "+") +
                                     ": '" + type_name(v) + "'");
      }
      case Expr::Kind::Binary:
        return binary(e);
      case Expr::Kind::And: {
        Value a = eval(*e.children[0]);
        return truthy(a) ? eval(*e.children[1]) : a;
      }
      case Expr::Kind::Or: {
        Value a = eval(*e.children[0]);
        return truthy(a) ? a : eval(*e.children[1]);
      }
      case Expr::Kind::Conditional:
        if (truthy(eval(*e.children[1]))) return eval(*e.children[0]);
        return e.children[2] ? eval(*e.children[2]) : Value::undefined("the else branch of a conditional is missing");
      case Expr::Kind::List: {
        List items;
        for (const auto& c : e.children) items.push_back(eval(*c));
        return Value::make_list(std::move(items));
      }
      case Expr::Kind::Dict: {
        Dict d;
        for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
          const Value key = eval(*e.children[i]);
          if (!key.is(K::String)) throw JinjaError(e.line, "only string keys are supported in a dict literal");
          d.set(key.text, eval(*e.children[i + 1]));
        }
        return Value::make_dict(std::move(d));
      }
    }
    throw JinjaError(e.line, "unknown expression");
  }

  const RenderSettings& settings_;
  std::vector<Scope> scopes_;
  std::string out_;
  int64_t steps_ = 0;
};

}  // namespace

std::string render(const Template& tpl, const Dict& variables, const RenderSettings& settings) {
  return Renderer(variables, settings).run(tpl);
}

}  // namespace frugal::jinja
