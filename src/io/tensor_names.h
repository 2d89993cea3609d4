// One tensor-name table per file format, from a weight's role and layer to the name in the file.
#pragma once
#include <cstdint>
#include <string>

#include "model/module_names.h"  // hf_module_name, hf_target_name
#include "model/weights.h"

namespace frugal {

std::string gguf_tensor_name(WeightRole role, int64_t layer);  // "blk.3.attn_q.weight"
std::string hf_tensor_name(WeightRole role, int64_t layer);    // "model.layers.3.self_attn.q_proj.weight"
// The same for a config whose family names a norm differently: with post-norms (Gemma 3) the MLP's
// pre-norm is `pre_feedforward_layernorm` and `post_attention_layernorm` is the attention's post-norm.
std::string hf_tensor_name(const LlamaConfig& config, WeightRole role, int64_t layer);
bool is_rotary_projection(WeightRole role);  // Wq/Wk/Bq/Bk: rows differ between GGUF and HF order

}  // namespace frugal
