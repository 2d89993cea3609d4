// Hyperparameters of a Llama-family decoder, whatever file they came from.
#pragma once
#include <cstdint>
#include <string>

namespace frugal {

struct LlamaConfig {
  std::string architecture = "llama";
  int64_t dim = 0;             // C: hidden size
  int64_t n_layers = 0;        // L
  int64_t n_heads = 0;         // H
  int64_t n_kv_heads = 0;      // KVH (grouped-query attention when < H)
  int64_t head_dim = 0;        // D
  int64_t ffn_dim = 0;         // F
  int64_t vocab_size = 0;      // V
  int64_t context_length = 0;  // trained context
  float rms_eps = 1e-5f;
  float rope_theta = 10000.0f;
  float rope_linear_factor = 1.0f;  // positions are divided by this ("linear" RoPE scaling)
  bool tied_output = true;          // output head shares the token embedding
  bool qkv_bias = false;            // Qwen2-style biases on q/k/v projections

  int64_t q_dim() const { return n_heads * head_dim; }
  int64_t kv_dim() const { return n_kv_heads * head_dim; }
  // Checks the numbers are consistent (heads divide, sizes positive); `source` names the file.
  void validate(const std::string& source) const;
  int64_t parameter_count() const;
};

}  // namespace frugal
