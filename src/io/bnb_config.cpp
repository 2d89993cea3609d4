#include "io/bnb_config.h"

#include "core/error.h"

namespace frugal {

nlohmann::ordered_json bnb_quantization_config(Quant4Type type, bool double_quant, const std::string& compute_dtype) {
  // transformers' BitsAndBytesConfig.to_dict(), keys in the order it writes them.
  nlohmann::ordered_json j;
  j["_load_in_4bit"] = true;
  j["_load_in_8bit"] = false;
  j["bnb_4bit_compute_dtype"] = compute_dtype;
  j["bnb_4bit_quant_storage"] = "uint8";
  j["bnb_4bit_quant_type"] = type == Quant4Type::kNf4 ? "nf4" : "fp4";
  j["bnb_4bit_use_double_quant"] = double_quant;
  j["llm_int8_enable_fp32_cpu_offload"] = false;
  j["llm_int8_has_fp16_weight"] = false;
  j["llm_int8_skip_modules"] = nullptr;
  j["llm_int8_threshold"] = 6.0;
  j["load_in_4bit"] = true;
  j["load_in_8bit"] = false;
  j["quant_method"] = "bitsandbytes";
  return j;
}

void check_bnb_quantization_config(const nlohmann::json& q, const std::string& path) {
  if (!q.is_object()) fail(path, "quantization_config", "is not an object");
  const std::string method = q.value("quant_method", std::string("bitsandbytes"));
  if (method != "bitsandbytes")
    fail(path, "quantization_config.quant_method", "'" + method + "' is not supported (bitsandbytes 4-bit only)");
  const auto flag = [&](const char* key) { return q.contains(key) && q[key].is_boolean() && q[key].get<bool>(); };
  if (flag("load_in_8bit") || flag("_load_in_8bit"))
    fail(path, "quantization_config.load_in_8bit", "8-bit bitsandbytes (LLM.int8) checkpoints are not supported");
  if (!flag("load_in_4bit") && !flag("_load_in_4bit"))
    fail(path, "quantization_config.load_in_4bit", "must be true (only bitsandbytes 4-bit checkpoints are read)");
}

}  // namespace frugal
