// Runs a parsed template on variables, as jinja2 would in transformers' sandbox: the globals
// range (at most 100000 items, jinja2's sandbox limit), namespace, raise_exception and
// strftime_now, default Undefined (prints as "", fails on arithmetic or attribute access), and
// each for-loop iteration in its own scope. Output size and work are bounded, so no template can
// hang or exhaust memory: past either bound rendering fails with a JinjaError.
#pragma once
#include <cstdint>
#include <ctime>
#include <string>

#include "tokenizer/jinja_parser.h"
#include "tokenizer/jinja_value.h"

namespace frugal::jinja {

struct RenderSettings {
  std::tm now{};                         // what strftime_now formats
  size_t max_output_bytes = 64u << 20;   // 64 MiB
  int64_t max_steps = 2'000'000;         // statements and expressions evaluated
};

// `variables` are the template's globals (messages, add_generation_prompt, bos_token, ...).
std::string render(const Template& tpl, const Dict& variables, const RenderSettings& settings);

}  // namespace frugal::jinja
