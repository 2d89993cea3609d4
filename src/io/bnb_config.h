// What bitsandbytes checkpoints share, whatever their bits: config.json's `quantization_config`
// (transformers' BitsAndBytesConfig), and looking their tensors up by name. The tensors themselves
// are in io/bnb_4bit.h.
#pragma once
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "quant/quantized_matrix.h"

namespace frugal {

// Looks a tensor up by name; nullptr when absent.
using TensorLookup = std::function<const SafetensorsTensor*(const std::string& name)>;

// config.json's quantization_config for a 4-bit checkpoint, with transformers' keys.
nlohmann::ordered_json bnb_quantization_config(Quant4Type type, bool double_quant, const std::string& compute_dtype);
// Accepts a bitsandbytes 4-bit quantization_config; anything else (8-bit, other methods) fails
// naming `path`.
void check_bnb_quantization_config(const nlohmann::json& config, const std::string& path);

}  // namespace frugal
