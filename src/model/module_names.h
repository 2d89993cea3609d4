// The Hugging Face module names of a block's projections, as transformers and PEFT spell them
// ("model.layers.3.self_attn.q_proj", target "q_proj"): LoRA targets, reports and adapter files.
#pragma once
#include <cstdint>
#include <string>

#include "model/weights.h"

namespace frugal {

std::string hf_module_name(WeightRole role, int64_t layer);
std::string hf_target_name(WeightRole role);

}  // namespace frugal
