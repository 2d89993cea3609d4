#include "core/error.h"
#include "io/tensor_names.h"

namespace frugal {

std::string hf_tensor_name(WeightRole role, int64_t layer) {
  const std::string base = "model.layers." + std::to_string(layer) + ".";
  switch (role) {
    case WeightRole::TokenEmbedding: return "model.embed_tokens.weight";
    case WeightRole::OutputNorm: return "model.norm.weight";
    case WeightRole::Output: return "lm_head.weight";
    case WeightRole::AttnNorm: return base + "input_layernorm.weight";
    case WeightRole::FfnNorm: return base + "post_attention_layernorm.weight";
    case WeightRole::Bq: case WeightRole::Bk: case WeightRole::Bv: return hf_module_name(role, layer) + ".bias";
    case WeightRole::QNorm: return base + "self_attn.q_norm.weight";
    case WeightRole::KNorm: return base + "self_attn.k_norm.weight";
    case WeightRole::PostAttnNorm: return base + "post_attention_layernorm.weight";
    case WeightRole::PostFfnNorm: return base + "post_feedforward_layernorm.weight";
    default: return hf_module_name(role, layer) + ".weight";
  }
}

std::string hf_tensor_name(const LlamaConfig& config, WeightRole role, int64_t layer) {
  if (config.post_norms && role == WeightRole::FfnNorm)
    return "model.layers." + std::to_string(layer) + ".pre_feedforward_layernorm.weight";
  return hf_tensor_name(role, layer);
}

}  // namespace frugal
