#include "model/llama_config.h"

#include <cmath>

#include "core/error.h"

namespace frugal {

void LlamaConfig::validate(const std::string& source) const {
  auto positive = [&](int64_t v, const char* name) {
    if (v <= 0 || v > (int64_t{1} << 32)) fail(source, name, "must be a positive size, got " + std::to_string(v));
  };
  positive(dim, "hidden size");
  positive(n_layers, "layer count");
  positive(n_heads, "head count");
  positive(n_kv_heads, "key/value head count");
  positive(head_dim, "head dimension");
  positive(ffn_dim, "feed-forward size");
  positive(vocab_size, "vocabulary size");
  if (n_heads % n_kv_heads != 0)
    fail(source, "head count", std::to_string(n_heads) + " heads is not a multiple of " + std::to_string(n_kv_heads) +
                                   " key/value heads");
  if (head_dim % 2 != 0) fail(source, "head dimension", "must be even for RoPE");
  if (!(rms_eps > 0) || !(rope_theta > 0)) fail(source, "rms_eps/rope_theta", "must be positive");
  if (sliding_window < 0) fail(source, "sliding_window", "must not be negative, got " + std::to_string(sliding_window));
  rope_scaling.validate(head_dim, source, RopeKeyNames{});
  if (!(embedding_scale > 0) || !std::isfinite(embedding_scale)) fail(source, "embedding scale", "must be positive");
  if (attention_scale < 0 || !std::isfinite(attention_scale)) fail(source, "attention scale", "must be positive");
}

float LlamaConfig::attention_scale_or_default() const {
  return attention_scale > 0 ? attention_scale : 1.0f / std::sqrt(static_cast<float>(head_dim));
}

int64_t LlamaConfig::parameter_count() const {
  int64_t per_layer = 2 * dim                         // two norms
                      + dim * q_dim() + 2 * dim * kv_dim() + q_dim() * dim  // attention
                      + 3 * dim * ffn_dim;            // SwiGLU
  if (qkv_bias) per_layer += q_dim() + 2 * kv_dim();
  if (qk_norm) per_layer += 2 * head_dim;
  if (post_norms) per_layer += 2 * dim;
  int64_t total = vocab_size * dim + n_layers * per_layer + dim;
  if (!tied_output) total += vocab_size * dim;
  return total;
}

}  // namespace frugal
