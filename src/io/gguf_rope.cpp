#include "io/gguf_rope.h"

#include <cstring>

#include "core/error.h"

namespace frugal {

namespace {

// An F32 tensor of head_dim/2 values, or empty when absent.
std::vector<double> frequency_tensor(const GgufFile& g, const std::string& name, int64_t head_dim) {
  const GgufTensorInfo* t = g.find_tensor(name);
  if (!t) return {};
  if (t->ne.size() != 1 || t->ne[0] != head_dim / 2 || t->type != GgmlType::F32) {
    std::string shape;
    for (int64_t n : t->ne) {
      if (!shape.empty()) shape += 'x';
      shape += std::to_string(n);
    }
    fail(g.path(), name,
         "must be F32 with head_dim/2 = " + std::to_string(head_dim / 2) + " values, got shape [" + shape + "]" +
             (t->type != GgmlType::F32 ? " of another type" : ""));
  }
  std::vector<float> v(static_cast<size_t>(head_dim / 2));
  std::memcpy(v.data(), t->data, sizeof(float) * v.size());
  return {v.begin(), v.end()};
}

}  // namespace

RopeScaling rope_scaling_from_gguf(const GgufFile& g, const std::string& a, int64_t head_dim, int64_t context_length) {
  RopeScaling s;
  const std::string k = a + "rope.scaling.";
  s.freq_divisors = frequency_tensor(g, "rope_freqs.weight", head_dim);
  s.long_factor = frequency_tensor(g, "rope_factors_long.weight", head_dim);
  s.short_factor = frequency_tensor(g, "rope_factors_short.weight", head_dim);
  // Without a type llama.cpp reads a factor (or the older rope.scale_linear) as linear scaling;
  // Phi-3 files carry LongRoPE's factor tensors without always naming the type.
  const std::string factor_key = g.find(k + "factor") ? k + "factor" : a + "rope.scale_linear";
  const std::string implied = !s.long_factor.empty() ? "longrope" : g.find(factor_key) ? "linear" : "none";
  const std::string type = g.get_string(k + "type", implied);
  if (type == "none") {
  } else if (type == "linear") {
    s.type = RopeType::Linear;
    s.factor = g.get_float(factor_key);
    if (!g.find(k + "type") && s.factor == 0) s = RopeScaling{};  // llama.cpp: 0 means unset
  } else if (type == "yarn") {
    s.type = RopeType::Yarn;
    s.factor = g.get_float(factor_key);
    s.original_context = g.get_int(k + "original_context_length", 0);
    // The converter writes transformers' attention_factor here (llama.cpp itself does not read it).
    if (g.find(k + "yarn_attn_factor")) s.attention_factor = g.get_float(k + "yarn_attn_factor");
    s.beta_fast = g.get_float(k + "yarn_beta_fast", 0.0);
    s.beta_slow = g.get_float(k + "yarn_beta_slow", 0.0);
    // Converters disagree on what this key holds (mscale_all_dim, or 0.1 times it): refuse to guess.
    if (g.find(k + "yarn_log_multiplier") && !s.attention_factor)
      fail(g.path(), k + "yarn_log_multiplier", "YaRN's log multiplier is not supported (give yarn_attn_factor)");
    if (g.find(k + "attn_factor") && g.get_float(k + "attn_factor") != 1.0)
      fail(g.path(), k + "attn_factor", "an extra attention factor on top of YaRN's is not supported");
  } else if (type == "longrope") {
    s.type = RopeType::LongRope;
    s.original_context = g.get_int(k + "original_context_length", 0);
    if (s.original_context > 0)
      s.factor = static_cast<double>(context_length) / static_cast<double>(s.original_context);
    if (g.find(k + "attn_factor")) s.attention_factor = g.get_float(k + "attn_factor");
    if (s.long_factor.empty() || s.short_factor.empty())
      fail(g.path(), s.long_factor.empty() ? "rope_factors_long.weight" : "rope_factors_short.weight",
           "missing tensor (LongRoPE needs both factor tensors)");
  } else {
    fail(g.path(), k + "type", "'" + type + "' is not a RoPE scaling type (none, linear, yarn, longrope)");
  }
  if (s.type != RopeType::LongRope && !s.long_factor.empty())
    fail(g.path(), "rope_factors_long.weight", "LongRoPE factors with RoPE scaling '" + type + "'");
  s.validate(head_dim, g.path(), {k.substr(0, k.size() - 1), k + "original_context_length", "rope_freqs.weight"});
  return s;
}

void set_gguf_rope_metadata(GgufWriter& w, const RopeScaling& s, const std::string& a, const std::string& source) {
  const std::string k = a + "rope.scaling.";
  switch (s.type) {
    case RopeType::Default:
    case RopeType::Llama3:
      return;  // Llama 3 is the rope_freqs tensor
    case RopeType::Linear:
      w.set_string(k + "type", "linear");
      w.set_f32(k + "factor", static_cast<float>(s.factor));
      return;
    case RopeType::Dynamic:
      fail(source, "rope_scaling",
           "dynamic NTK RoPE scaling has no GGUF form (llama.cpp has none); export a "
           "Hugging Face folder instead");
    case RopeType::Yarn:
      if (!s.truncate) fail(source, "rope_scaling.truncate", "false has no GGUF form (llama.cpp always truncates)");
      w.set_string(k + "type", "yarn");
      w.set_f32(k + "factor", static_cast<float>(s.factor));
      w.set_u32(k + "original_context_length", static_cast<uint32_t>(s.original_context));
      // The attention factor resolved (mscale and mscale_all_dim folded in), as the converter names it.
      w.set_f32(k + "yarn_attn_factor", static_cast<float>(rope_attention_factor(s)));
      if (s.beta_fast != 0) w.set_f32(k + "yarn_beta_fast", static_cast<float>(s.beta_fast));
      if (s.beta_slow != 0) w.set_f32(k + "yarn_beta_slow", static_cast<float>(s.beta_slow));
      return;
    case RopeType::LongRope:
      w.set_string(k + "type", "longrope");
      w.set_u32(k + "original_context_length", static_cast<uint32_t>(s.original_context));
      w.set_f32(k + "attn_factor", static_cast<float>(rope_attention_factor(s)));
      return;
  }
}

void add_gguf_rope_tensors(GgufWriter& w, const RopeScaling& s, double theta, int64_t head_dim) {
  const auto to_f32 = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
  if (s.type == RopeType::Llama3 || !s.freq_divisors.empty()) {
    std::vector<float> divisors = s.type == RopeType::Llama3
                                      ? llama3_frequency_divisors(s, theta, head_dim)
                                      : std::vector<float>(static_cast<size_t>(head_dim / 2), 1.0f);
    for (size_t i = 0; i < s.freq_divisors.size(); ++i) divisors[i] *= static_cast<float>(s.freq_divisors[i]);
    w.add_tensor("rope_freqs.weight", {head_dim / 2}, GgmlType::F32, std::move(divisors));
  }
  if (s.type == RopeType::LongRope) {
    w.add_tensor("rope_factors_long.weight", {head_dim / 2}, GgmlType::F32, to_f32(s.long_factor));
    w.add_tensor("rope_factors_short.weight", {head_dim / 2}, GgmlType::F32, to_f32(s.short_factor));
  }
}

}  // namespace frugal
