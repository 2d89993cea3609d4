// What bitsandbytes checkpoints share, whatever their bits: config.json's `quantization_config`
// (transformers' BitsAndBytesConfig), and looking their tensors up by name. The tensors themselves
// are in io/bnb_4bit.h and io/bnb_int8.h.
#pragma once
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "format/safetensors.h"
#include "quant/quantized_matrix.h"

namespace frugal {

// Looks a tensor up by name; nullptr when absent.
using TensorLookup = std::function<const SafetensorsTensor*(const std::string& name)>;

// config.json's quantization_config for a 4-bit checkpoint, with transformers' keys.
nlohmann::ordered_json bnb_quantization_config(Quant4Type type, bool double_quant, const std::string& compute_dtype);
// The same for an 8-bit (LLM.int8) checkpoint, as transformers writes BitsAndBytesConfig(load_in_8bit=True).
nlohmann::ordered_json bnb_int8_quantization_config();

enum class BnbBits { k4, k8 };
// Accepts a bitsandbytes 4-bit or 8-bit quantization_config and says which; anything else (both,
// neither, other methods) fails naming `path`.
BnbBits check_bnb_quantization_config(const nlohmann::json& config, const std::string& path);

// How a model's linear weights are stored when it is a Hugging Face folder saved quantized by
// bitsandbytes: known from config.json before any tensor is read, so a training run can be planned
// (and refused) as QLoRA over that base without loading it. nullopt for anything else.
struct BnbCheckpointKind {
  BnbBits bits = BnbBits::k4;
  Quant4Type type = Quant4Type::kNf4;  // 4-bit only
  bool double_quant = false;           // 4-bit only
};
std::optional<BnbCheckpointKind> bnb_checkpoint_kind(const std::string& model_path);

}  // namespace frugal
