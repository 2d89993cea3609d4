// config.json's RoPE scaling (rope_scaling, or transformers 5's rope_parameters) <-> RopeScaling,
// read the way transformers 4.57 reads it (modeling_rope_utils) and written back so that
// transformers computes the same frequencies from the exported folder.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "kernels/rope_scaling.h"

namespace frugal {

// `config`: the whole config.json; `rope`: its rope_scaling / rope_parameters object (of the full
// attention layers), or an empty object; `path` names the file in errors.
RopeScaling rope_scaling_from_hf(const nlohmann::json& config, const nlohmann::json& rope, int64_t head_dim,
                                 const std::string& path);

// Sets `rope_scaling` (null when there is none) and, for LongRoPE, the top-level
// original_max_position_embeddings in an exported config.json. `source` names the model in errors
// (a GGUF's rope_freqs without Llama 3's parameters cannot be written).
void rope_scaling_to_hf(const RopeScaling& s, nlohmann::ordered_json& config, const std::string& source);

}  // namespace frugal
