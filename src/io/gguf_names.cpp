#include "core/error.h"
#include "io/tensor_names.h"

namespace frugal {

std::string gguf_tensor_name(WeightRole role, int64_t layer) {
  const std::string blk = "blk." + std::to_string(layer) + ".";
  switch (role) {
    case WeightRole::TokenEmbedding: return "token_embd.weight";
    case WeightRole::OutputNorm: return "output_norm.weight";
    case WeightRole::Output: return "output.weight";
    case WeightRole::AttnNorm: return blk + "attn_norm.weight";
    case WeightRole::FfnNorm: return blk + "ffn_norm.weight";
    case WeightRole::Wq: return blk + "attn_q.weight";
    case WeightRole::Wk: return blk + "attn_k.weight";
    case WeightRole::Wv: return blk + "attn_v.weight";
    case WeightRole::Wo: return blk + "attn_output.weight";
    case WeightRole::Gate: return blk + "ffn_gate.weight";
    case WeightRole::Up: return blk + "ffn_up.weight";
    case WeightRole::Down: return blk + "ffn_down.weight";
    case WeightRole::Bq: return blk + "attn_q.bias";
    case WeightRole::Bk: return blk + "attn_k.bias";
    case WeightRole::Bv: return blk + "attn_v.bias";
    case WeightRole::QNorm: return blk + "attn_q_norm.weight";
    case WeightRole::KNorm: return blk + "attn_k_norm.weight";
    case WeightRole::PostAttnNorm: return blk + "post_attention_norm.weight";
    case WeightRole::PostFfnNorm: return blk + "post_ffw_norm.weight";
  }
  fail("internal: unknown weight role");
}

bool is_rotary_projection(WeightRole role) {
  return role == WeightRole::Wq || role == WeightRole::Wk || role == WeightRole::Bq || role == WeightRole::Bk;
}

}  // namespace frugal
