#include "core/error.h"
#include "io/tensor_names.h"

namespace frugal {

std::string hf_target_name(WeightRole role) {
  switch (role) {
    case WeightRole::Wq: case WeightRole::Bq: return "q_proj";
    case WeightRole::Wk: case WeightRole::Bk: return "k_proj";
    case WeightRole::Wv: case WeightRole::Bv: return "v_proj";
    case WeightRole::Wo: return "o_proj";
    case WeightRole::Gate: return "gate_proj";
    case WeightRole::Up: return "up_proj";
    case WeightRole::Down: return "down_proj";
    default: fail("internal: weight role is not a linear layer");
  }
}

std::string hf_module_name(WeightRole role, int64_t layer) {
  const std::string base = "model.layers." + std::to_string(layer) + ".";
  switch (role) {
    case WeightRole::Wq: case WeightRole::Wk: case WeightRole::Wv: case WeightRole::Wo:
    case WeightRole::Bq: case WeightRole::Bk: case WeightRole::Bv:
      return base + "self_attn." + hf_target_name(role);
    default: return base + "mlp." + hf_target_name(role);
  }
}

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
