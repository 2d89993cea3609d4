// Model shapes the planner works on: a LlamaConfig from a file, a published preset, or (for the
// lecture's "a 10B model" examples) only a parameter count. Also the parameter counts by role that
// the memory and compute models need (linear layers, the output head, LoRA adapters).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/llama_config.h"
#include "model/weights.h"

namespace frugal {

struct ModelShape {
  std::string name;
  std::string source;     // where the numbers come from (paper, config.json, file)
  LlamaConfig config;     // every dimension zero when only a parameter count is known
  double parameters = 0;  // total, embeddings and norms included

  bool has_dims() const { return config.n_layers > 0 && config.dim > 0; }
};

ModelShape shape_from_config(const std::string& name, const LlamaConfig& config, const std::string& source = "");
// A model known only by its size: memory for weights, gradients and optimizer state can be
// planned, activations and KV cache cannot (they need the dimensions).
ModelShape shape_from_parameter_count(const std::string& name, double parameters);

// Llama-2 7B/13B/70B, Llama-3 8B/70B, LLaMA 65B, GPT-3 175B, SmolLM2 135M/360M/1.7B, TinyLlama 1.1B,
// stories260K; smallest first.
const std::vector<ModelShape>& model_presets();
// Case-insensitive; fails listing the known names.
const ModelShape& find_preset(const std::string& name);
std::string preset_names();  // "stories260k, smollm2-135m, ..."

int64_t block_linear_parameters(const LlamaConfig& config);  // the seven projections of one block
// Weights every token is multiplied by: the projections of all blocks plus the output head (the
// embedding is a lookup, not a matmul, even when the head is tied to it).
int64_t matmul_parameters(const LlamaConfig& config);
// A [r, in] + B [out, r] for every targeted projection of every block.
int64_t lora_parameter_count(const LlamaConfig& config, int64_t lora_r, const std::vector<WeightRole>& targets);
std::vector<WeightRole> all_linear_roles();

}  // namespace frugal
