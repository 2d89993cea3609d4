#include "model/lora.h"

#include <cmath>
#include <random>
#include <sstream>

#include "core/error.h"
#include "model/module_names.h"

namespace frugal {

namespace {
const std::vector<std::pair<WeightRole, std::vector<std::string>>>& target_names() {
  static const std::vector<std::pair<WeightRole, std::vector<std::string>>> names = {
      {WeightRole::Wq, {"q", "q_proj"}},       {WeightRole::Wk, {"k", "k_proj"}},
      {WeightRole::Wv, {"v", "v_proj"}},       {WeightRole::Wo, {"o", "o_proj"}},
      {WeightRole::Gate, {"gate", "gate_proj"}}, {WeightRole::Up, {"up", "up_proj"}},
      {WeightRole::Down, {"down", "down_proj"}},
  };
  return names;
}

}  // namespace

float LoraConfig::scaling() const {
  return use_rslora ? alpha / std::sqrt(static_cast<float>(r)) : alpha / static_cast<float>(r);
}

std::vector<WeightRole> parse_lora_targets(const std::string& spec) {
  std::vector<WeightRole> out;
  if (spec == "all-linear" || spec == "all_linear" || spec == "all") {
    for (const auto& [role, _] : target_names()) out.push_back(role);
    return out;
  }
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    while (!item.empty() && (item.front() == ' ' || item.front() == '[' || item.front() == '"')) item.erase(0, 1);
    while (!item.empty() && (item.back() == ' ' || item.back() == ']' || item.back() == '"')) item.pop_back();
    if (item.empty()) continue;
    bool found = false;
    for (const auto& [role, names] : target_names())
      for (const std::string& n : names)
        if (n == item && !found) {
          found = true;
          bool dup = false;
          for (WeightRole r : out) dup |= r == role;
          if (!dup) out.push_back(role);
        }
    if (!found)
      fail("lora_target_modules", "", "unknown module '" + item + "' (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, or all-linear)");
  }
  if (out.empty()) fail("lora_target_modules", "", "no modules given");
  return out;
}

std::string lora_targets_string(const std::vector<WeightRole>& targets) {
  std::string s;
  for (WeightRole r : targets) {
    if (!s.empty()) s += ',';
    s += hf_target_name(r);
  }
  return s;
}

LoraAdapter LoraAdapter::create(const LlamaConfig& c, const LoraConfig& config) {
  if (config.r <= 0) fail("lora_r", "", "must be positive");
  LoraAdapter a;
  a.config = config;
  size_t offset = 0;
  for (int64_t layer = 0; layer < c.n_layers; ++layer)
    for (const auto& [role, _] : target_names()) {
      bool wanted = false;
      for (WeightRole r : config.targets) wanted |= r == role;
      if (!wanted) continue;
      LoraLayer l{role, layer, linear_in_features(c, role), linear_out_features(c, role), 0, 0};
      l.a_offset = offset;
      offset += static_cast<size_t>(config.r * l.in);
      l.b_offset = offset;
      offset += static_cast<size_t>(l.out * config.r);
      a.layers.push_back(l);
    }
  a.values.assign(offset, 0.0f);
  std::mt19937_64 rng(config.seed);
  for (const LoraLayer& l : a.layers) {
    // kaiming_uniform_(a=sqrt(5)) on [r, in]: gain sqrt(2/(1+5)), bound gain*sqrt(3/in) = 1/sqrt(in).
    std::uniform_real_distribution<float> dist(-1.0f / std::sqrt(static_cast<float>(l.in)),
                                               1.0f / std::sqrt(static_cast<float>(l.in)));
    float* A = a.a(l);
    for (int64_t i = 0; i < config.r * l.in; ++i) A[i] = dist(rng);
  }
  return a;
}

const LoraLayer* LoraAdapter::find(WeightRole role, int64_t layer) const {
  for (const LoraLayer& l : layers)
    if (l.role == role && l.layer == layer) return &l;
  return nullptr;
}


void merge_lora_into(LlamaWeights& weights, const LoraAdapter& adapter) {
  const float s = adapter.config.scaling();
  const int64_t r = adapter.config.r;
  for (const LoraLayer& l : adapter.layers) {
    Matrix& m = linear_weight(weights, l.role, l.layer);
    m.expand_to_fp32();  // a compact base: the merged weight is the dequantized one plus the delta, in fp32
    const float* A = adapter.a(l);
    const float* B = adapter.b(l);
#pragma omp parallel for
    for (int64_t o = 0; o < l.out; ++o)
      for (int64_t k = 0; k < r; ++k) {
        const float bk = s * B[o * r + k];
        for (int64_t i = 0; i < l.in; ++i) m.data[o * l.in + i] += bk * A[k * l.in + i];
      }
    m.bf16.clear();  // stale after the merge
  }
}

}  // namespace frugal
