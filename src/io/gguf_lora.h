// llama.cpp's GGUF LoRA adapter format (ECOSYSTEM.md §3b): general.type "adapter", adapter.type
// "lora", adapter.lora.alpha, and per adapted weight `<base tensor name>.lora_a` (ggml ne [in, r]:
// PEFT's A [r, in] as is) and `.lora_b` (ne [r, out]). B rows of Q and K are in the GGUF (Meta)
// order of the base model's weights, so they are permuted here and nowhere else; A never is.
#pragma once
#include <string>

#include "model/llama_config.h"
#include "model/lora.h"

namespace frugal {

// Whether GGUF stores Q/K rows of this architecture in Meta's adjacent-pair order: llama.cpp's
// converter permutes them for "llama" (rope type NORM) but not for NEOX-rope models such as "qwen2"
// (the family table's gguf_rotary_rows_permuted).
bool gguf_permutes_rotary_rows(const std::string& architecture);

// The alpha llama.cpp needs so that its scale alpha / rank equals ours: alpha itself, or
// alpha * sqrt(r) for rsLoRA (llama.cpp has no rsLoRA flag; its rank is lora_b's ne[0]).
float gguf_lora_alpha(const LoraConfig& config);

// Writes `adapter` (trained on a base with config `model`) as a GGUF LoRA file, all tensors F32,
// atomically. `name` goes to general.name when not empty.
void write_gguf_lora(const std::string& path, const LoraAdapter& adapter, const LlamaConfig& model,
                     const std::string& name = "");

// Reads a GGUF LoRA file back into our layout (B rows of Q/K back in HF order) for a base with
// config `model`: architecture, names and shapes are checked as llama.cpp's loader does, and every
// failure names the file and the tensor or key. The result has use_rslora = false and alpha as
// stored, so its scaling() is what llama.cpp applies; a file without alpha gets alpha = r (scale 1,
// llama.cpp's rule). F32, F16, BF16 and the block types we can dequantize are accepted.
LoraAdapter read_gguf_lora(const std::string& path, const LlamaConfig& model);

}  // namespace frugal
