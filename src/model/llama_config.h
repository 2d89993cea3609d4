// Hyperparameters of a decoder of the Llama lineage (Llama, SmolLM2, Qwen2/3, Gemma 3, Mistral,
// Phi-3), whatever file they came from. What sets the families apart is data here (norm placement,
// q/k norms, biases, activation, scales, sliding windows, RoPE frequencies), read by the one
// transformer block (model/block.h); loaders fill it from GGUF metadata or config.json.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/rope_scaling.h"

namespace frugal {

// The gated MLP's activation: h = act(gate) * up.
enum class MlpActivation { Silu, GeluTanh };  // SwiGLU (Llama, Qwen, Mistral, Phi-3); GeGLU, tanh GELU (Gemma)

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
  // RoPE frequency scaling of every layer (Gemma 3: of the global layers): linear, dynamic NTK,
  // YaRN, LongRoPE, Llama 3, and GGUF's rope_freqs divisors.
  RopeScaling rope_scaling;
  bool tied_output = true;          // output head shares the token embedding
  bool qkv_bias = false;            // Qwen2-style biases on q/k/v projections
  bool qk_norm = false;             // RMSNorm over each head's D on q and k before RoPE (Qwen3, Gemma 3)
  bool post_norms = false;          // RMSNorm on each sublayer's output before the residual add (Gemma 3)
  MlpActivation activation = MlpActivation::Silu;
  float embedding_scale = 1.0f;     // token embeddings are multiplied by this (Gemma: sqrt(hidden))
  float attention_scale = 0.0f;     // scores are q.k times this; 0 means 1/sqrt(head_dim)
  // Sliding-window attention: a query in a sliding layer sees the last `sliding_window` positions,
  // itself included (0: no window). With a pattern n, every n-th layer (n-1, 2n-1, ...) is global
  // (Gemma 3: 6); pattern 0 with a window makes every layer slide (Mistral).
  int64_t sliding_window = 0;
  int64_t sliding_window_pattern = 0;
  float rope_local_theta = 0.0f;    // RoPE base of sliding layers when it differs (Gemma 3: 10000); 0: the same

  int64_t q_dim() const { return n_heads * head_dim; }
  bool layer_slides(int64_t layer) const {
    return sliding_window > 0 && (sliding_window_pattern <= 0 || layer % sliding_window_pattern != sliding_window_pattern - 1);
  }
  float attention_scale_or_default() const;
  int64_t kv_dim() const { return n_kv_heads * head_dim; }
  // Checks the numbers are consistent (heads divide, sizes positive); `source` names the file.
  void validate(const std::string& source) const;
  int64_t parameter_count() const;
};

}  // namespace frugal
