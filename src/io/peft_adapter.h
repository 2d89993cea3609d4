// Hugging Face PEFT LoRA adapter folders (ECOSYSTEM.md §3a): adapter_config.json and
// adapter_model.safetensors with `base_model.model.<module>.lora_A.weight` [r, in] and
// `.lora_B.weight` [out, r]. Our adapters already use PEFT's orientation and HF's row order, so
// values are written and read unchanged.
#pragma once
#include <string>

#include "model/llama_config.h"
#include "model/lora.h"

namespace frugal {

// "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight" (is_a) / "...lora_B.weight".
std::string peft_tensor_key(WeightRole role, int64_t layer, bool is_a);

// Writes `dir`/adapter_model.safetensors (fp32, metadata {"format": "pt"}) and then
// `dir`/adapter_config.json, each atomically; the folder is created if needed. The config is
// written last, so a folder with a config always holds a complete adapter.
// `base_model_name_or_path` is recorded for tools that fetch the base (PEFT, llama.cpp's converter).
void write_peft_adapter(const std::string& dir, const LoraAdapter& adapter, const LlamaConfig& model,
                        const std::string& base_model_name_or_path);

// Reads a PEFT LoRA folder for a base model with config `model`, to continue training or evaluate.
// Accepts fp32 / fp16 / bf16 tensors and target_modules as a list, a regex or "all-linear".
// Refuses, naming the file and key or tensor: a peft_type other than LORA, features we cannot
// reproduce (DoRA, rank_pattern / alpha_pattern, lora_bias, bias != "none", modules_to_save,
// fan_in_fan_out, PiSSA-style inits that change the base, ...), and tensors whose names or shapes do
// not fit `model` and the config's r.
LoraAdapter read_peft_adapter(const std::string& dir, const LlamaConfig& model);

}  // namespace frugal
