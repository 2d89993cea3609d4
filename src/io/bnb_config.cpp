#include "io/bnb_config.h"

#include <filesystem>

#include "core/error.h"
#include "core/read_file.h"

namespace frugal {

namespace {

// transformers' BitsAndBytesConfig.to_dict(), keys in the order it writes them.
nlohmann::ordered_json config_dict(bool eight_bit, const std::string& quant_type, bool double_quant,
                                   const std::string& compute_dtype) {
  nlohmann::ordered_json j;
  j["_load_in_4bit"] = !eight_bit;
  j["_load_in_8bit"] = eight_bit;
  j["bnb_4bit_compute_dtype"] = compute_dtype;
  j["bnb_4bit_quant_storage"] = "uint8";
  j["bnb_4bit_quant_type"] = quant_type;
  j["bnb_4bit_use_double_quant"] = double_quant;
  j["llm_int8_enable_fp32_cpu_offload"] = false;
  j["llm_int8_has_fp16_weight"] = false;
  j["llm_int8_skip_modules"] = nullptr;
  j["llm_int8_threshold"] = 6.0;
  j["load_in_4bit"] = !eight_bit;
  j["load_in_8bit"] = eight_bit;
  j["quant_method"] = "bitsandbytes";
  return j;
}

}  // namespace

nlohmann::ordered_json bnb_quantization_config(Quant4Type type, bool double_quant, const std::string& compute_dtype) {
  return config_dict(false, type == Quant4Type::kNf4 ? "nf4" : "fp4", double_quant, compute_dtype);
}

nlohmann::ordered_json bnb_int8_quantization_config() {
  // The 4-bit fields keep BitsAndBytesConfig's defaults (fp4, float32 compute), as transformers writes them.
  return config_dict(true, "fp4", false, "float32");
}

BnbBits check_bnb_quantization_config(const nlohmann::json& q, const std::string& path) {
  if (!q.is_object()) fail(path, "quantization_config", "is not an object");
  const std::string method =
      q.contains("quant_method") && q["quant_method"].is_string() ? q["quant_method"].get<std::string>() : "bitsandbytes";
  if (method != "bitsandbytes")
    fail(path, "quantization_config.quant_method", "'" + method + "' is not supported (bitsandbytes 4-bit and 8-bit only)");
  const auto flag = [&](const char* key) { return q.contains(key) && q[key].is_boolean() && q[key].get<bool>(); };
  const bool eight = flag("load_in_8bit") || flag("_load_in_8bit"), four = flag("load_in_4bit") || flag("_load_in_4bit");
  if (eight && four) fail(path, "quantization_config", "load_in_4bit and load_in_8bit are both true");
  if (!eight && !four)
    fail(path, "quantization_config", "neither load_in_4bit nor load_in_8bit is true (bitsandbytes checkpoints only)");
  return eight ? BnbBits::k8 : BnbBits::k4;
}

std::optional<BnbCheckpointKind> bnb_checkpoint_kind(const std::string& model_path) {
  const std::filesystem::path config_path = std::filesystem::path(model_path) / "config.json";
  std::error_code ec;
  if (!std::filesystem::is_directory(model_path, ec) || !std::filesystem::exists(config_path, ec)) return std::nullopt;
  const std::string path = config_path.string();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_whole_file(path, "cannot open the model's config"));
  } catch (const nlohmann::json::exception& e) {
    fail(path, "", std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object() || !j.contains("quantization_config")) return std::nullopt;
  const nlohmann::json& q = j["quantization_config"];
  BnbCheckpointKind kind;
  kind.bits = check_bnb_quantization_config(q, path);
  if (kind.bits == BnbBits::k4) {
    // BitsAndBytesConfig's defaults where a key is absent; the loader checks the tensors themselves.
    const auto type = q.find("bnb_4bit_quant_type");
    kind.type = type != q.end() && type->is_string() && *type == "nf4" ? Quant4Type::kNf4 : Quant4Type::kFp4;
    const auto dq = q.find("bnb_4bit_use_double_quant");
    kind.double_quant = dq != q.end() && dq->is_boolean() && dq->get<bool>();
  }
  return kind;
}

}  // namespace frugal
