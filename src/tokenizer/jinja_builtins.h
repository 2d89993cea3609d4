// The filters, tests and methods chat templates call, with jinja2's (filters, tests) and Python's
// (str and dict methods) behaviour, and transformers' tojson (json.dumps, non-ASCII kept).
#pragma once
#include <string>

#include "tokenizer/jinja_value.h"

namespace frugal::jinja {

bool has_filter(const std::string& name);
bool has_test(const std::string& name);
bool has_method(const std::string& name);

Value apply_filter(const std::string& name, const Value& input, Args& args, int line);
bool apply_test(const std::string& name, const Value& value, Args& args, int line);
// `self.name` as a bound method when `self` has one by that name, else Undefined.
Value get_method(const Value& self, const std::string& name);

// Python's len() of a string (code points), list or dict; throws for other types.
int64_t length_of(const Value& v, int line);
// Python's iteration: a list's items, a dict's keys, a string's characters; Undefined is empty.
List iterate(const Value& v, int line);

// The argument at `index` or named `name`, or `fallback` when neither was given.
Value argument(Args& args, size_t index, const std::string& name, Value fallback = Value::undefined());

}  // namespace frugal::jinja
