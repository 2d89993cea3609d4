// LoRA adapters on the linear layers: y = W x + scaling * B (A x), A [r, in], B [out, r] in PEFT's
// orientation and HF row order (Q/K rows as in Hugging Face, whatever file the base came from).
// All adapter values live in one contiguous fp32 arena so the optimizer and an all-reduce are flat.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/context_extension.h"
#include "model/llama_config.h"
#include "model/weights.h"

namespace frugal {

struct LoraConfig {
  int64_t r = 8;
  float alpha = 16.0f;
  float dropout = 0.0f;
  std::vector<WeightRole> targets;  // which projections get adapters (Wq, Wk, Wv, Wo, Gate, Up, Down)
  bool use_rslora = false;
  uint64_t seed = 42;
  float scaling() const;  // alpha / r, or alpha / sqrt(r) with rsLoRA
};

// "q,k,v,o,gate,up,down", PEFT names ("q_proj", ...), or "all-linear".
std::vector<WeightRole> parse_lora_targets(const std::string& spec);
std::string lora_targets_string(const std::vector<WeightRole>& targets);  // "q_proj,k_proj,..."

struct LoraLayer {
  WeightRole role;
  int64_t layer;
  int64_t in, out;          // of the base linear layer
  size_t a_offset, b_offset;  // into LoraAdapter::values: A [r, in], B [out, r]
};

struct LoraAdapter {
  LoraConfig config;
  std::vector<LoraLayer> layers;
  std::vector<float> values;  // every A and B, contiguous
  // The RoPE scaling the adapter was trained with (rope_scaling in training): the base must run with
  // it for the adapter's outputs to mean what they meant in training.
  ContextExtension context_extension;

  // Adapters for every targeted projection of every layer, PEFT's default init: A kaiming-uniform
  // (a = sqrt(5), i.e. U(-1/sqrt(in), 1/sqrt(in))), B zero; deterministic from config.seed.
  static LoraAdapter create(const LlamaConfig& model, const LoraConfig& config);
  const LoraLayer* find(WeightRole role, int64_t layer) const;
  float* a(const LoraLayer& l) { return values.data() + l.a_offset; }
  float* b(const LoraLayer& l) { return values.data() + l.b_offset; }
  const float* a(const LoraLayer& l) const { return values.data() + l.a_offset; }
  const float* b(const LoraLayer& l) const { return values.data() + l.b_offset; }
  size_t parameter_count() const { return values.size(); }
};

// W += scaling * B A for every adapted layer (merging for export or faster inference). A 4-bit
// weight is dequantized first and the merged weight stays fp32 (re-quantizing would round the delta).
void merge_lora_into(LlamaWeights& weights, const LoraAdapter& adapter);

}  // namespace frugal
