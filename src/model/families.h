// The model families frugal runs, as data: what each one's block does differently and how its
// files name it. One table, read by the GGUF and Hugging Face loaders and exporters; the block
// (model/block.h) reads only the resulting LlamaConfig fields.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/llama_config.h"
#include "model/weights.h"

namespace frugal {

struct ModelFamily {
  std::string_view architecture;                 // our name, GGUF's general.architecture
  std::vector<std::string_view> hf_model_types;  // config.json model_type values
  std::string_view hf_class;                     // config.json architectures[0] when exporting
  bool qkv_bias = false;          // Qwen2: biases on q/k/v
  bool qk_norm = false;           // Qwen3, Gemma 3
  bool post_norms = false;        // Gemma 3: pre and post norms around attention and MLP
  MlpActivation activation = MlpActivation::Silu;
  bool embedding_scale_sqrt = false;  // Gemma: embeddings times sqrt(hidden)
  int64_t sliding_window_pattern = 0; // Gemma 3: every 6th layer global (llama.cpp hard-codes it too)
  float rope_local_theta = 0.0f;      // Gemma 3: sliding layers' RoPE base (not stored in GGUF)
  // Hugging Face stores these families' RMSNorm weights as w with the norm multiplying by (1 + w);
  // GGUF (llama.cpp's converter) and frugal hold 1 + w. The HF loader adds it, the exporter removes it.
  float hf_norm_offset = 0.0f;
  bool fused_projections = false;     // Phi-3: qkv_proj and gate_up_proj (split at import)
  bool gguf_rotary_rows_permuted = false;  // llama.cpp's converter permutes Q/K rows (RoPE type 0: llama)
};

// The family of a GGUF architecture or an HF model_type; fails naming `source`, the key and what
// is supported when there is none.
const ModelFamily& family_of_architecture(const std::string& architecture, const std::string& source);
const ModelFamily& family_of_hf_model_type(const std::string& model_type, const std::string& source);
std::string supported_architectures();  // "llama, qwen2, ..." for messages

// Where a projection sits in a family's fused tensor (Phi-3: qkv [q; k; v] rows, gate_up [gate; up]):
// its first row and the fused tensor's rows. Empty when the family or the role is not fused.
struct FusedRows {
  bool attention;  // in the qkv tensor (else in gate_up)
  int64_t first_row, total_rows;
};
std::optional<FusedRows> fused_rows(const ModelFamily& family, const LlamaConfig& config, WeightRole role);

// Sets the config's family fields (the dimensions must already be read).
void apply_family(const ModelFamily& family, LlamaConfig& config);

}  // namespace frugal
