// The model's weights in our one internal layout: Hugging Face order, every matrix [out, in]
// row-major, Q/K rows in HF's rotate-half order. Loaders convert into this; nothing else
// needs to know which file format a model came from.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/llama_config.h"
#include "quant/matrix.h"

namespace frugal {


struct LayerWeights {
  std::vector<float> attn_norm;  // [C]
  std::vector<float> ffn_norm;   // [C]
  Matrix wq, wk, wv, wo;         // [H*D, C], [KVH*D, C], [KVH*D, C], [C, H*D]
  std::vector<float> bq, bk, bv; // optional biases (Qwen2)
  std::vector<float> q_norm, k_norm;                // [D] each, when config.qk_norm
  std::vector<float> post_attn_norm, post_ffn_norm; // [C] each, when config.post_norms
  Matrix gate, up, down;         // [F, C], [F, C], [C, F]
};

// What a tensor was stored as in the source file, for `frugal info`.
struct SourceTensor {
  std::string name;
  std::string type;
  std::vector<int64_t> shape;  // as the file lists it
  uint64_t bytes = 0;
};

struct LlamaWeights {
  Matrix token_embedding;         // [V, C]
  std::vector<float> output_norm; // [C]
  Matrix output;                  // [V, C]; empty when tied to token_embedding
  std::vector<LayerWeights> layers;

  const Matrix& output_matrix() const { return output.empty() ? token_embedding : output; }
  // Allocates every tensor at its shape, zero-filled, so loaders can fill them in place. Without
  // `linear`, the linear projections only get their shape (a loader of 4-bit weights fills q4 or
  // allocates each itself), so no fp32 copy of them ever exists; likewise `tables` for the token
  // embedding and output head.
  void allocate(const LlamaConfig& config, bool linear = true, bool tables = true);
};

// The per-tensor slots a loader fills, named by role; format name tables map these to file names.
enum class WeightRole {
  TokenEmbedding, OutputNorm, Output, AttnNorm, FfnNorm, Wq, Wk, Wv, Wo, Gate, Up, Down, Bq, Bk, Bv,
  QNorm, KNorm, PostAttnNorm, PostFfnNorm  // appended: the values of the others seed dropout streams
};

struct WeightSlot {
  WeightRole role;
  int64_t layer;  // -1 for model-level tensors
  float* data;
  int64_t rows, cols;  // cols == 1 for vectors... rows holds the length then
};

// Every slot the config needs, in a stable order (model-level first, then layer by layer).
std::vector<WeightSlot> weight_slots(const LlamaConfig& config, LlamaWeights& weights);
// The same slots without weights behind them (data is null): names and shapes only, for writers
// that produce the tensors themselves.
std::vector<WeightSlot> weight_layout(const LlamaConfig& config);

// Wq ... Down: the projections LoRA adapts and QLoRA holds in 4 bits.
bool is_linear_role(WeightRole role);
// RMSNorm weights (model-level and per block), and every one-dimensional weight (norms, biases).
bool is_norm_role(WeightRole role);
bool is_vector_role(WeightRole role);

// In and out features of a linear layer (Wq ... Down) under `config`.
int64_t linear_in_features(const LlamaConfig& config, WeightRole role);
int64_t linear_out_features(const LlamaConfig& config, WeightRole role);

// The matrix of a linear layer (Wq ... Down) of one block.
Matrix& linear_weight(LlamaWeights& weights, WeightRole role, int64_t layer);
const Matrix& linear_weight(const LlamaWeights& weights, WeightRole role, int64_t layer);

// QLoRA's base: every linear projection of every block to 4 bits (NF4 or FP4, with or without
// double-quantized scales), dropping its fp32 and bf16 copies. Embedding, norms and head stay.
void quantize_linear_weights(LlamaWeights& weights, Quant4Type type, bool double_quant);
// One matrix of it (a loader quantizing tensor by tensor, never holding a whole fp32 model).
void quantize_linear_weight(Matrix& m, Quant4Type type, bool double_quant);
struct LinearQuantization {
  Quant4Type type = Quant4Type::kNf4;
  bool double_quant = true;
  bool int8 = false;  // load_in_8bit: int8 rows (LLM.int8's layout) instead of 4 bits
};
void quantize_linear_weight(Matrix& m, const LinearQuantization& q);
void quantize_linear_weights(LlamaWeights& weights, const LinearQuantization& q);
// Resident bytes of the linear projections (compact, or fp32 + bf16 copies), for reports.
int64_t linear_weight_bytes(const LlamaWeights& weights);

// The GGUF / llama2.c (Meta) layout pairs adjacent rotary dimensions; HF pairs i with i+D/2.
// These permute the rows of a Q or K projection (or its LoRA B, or bias) between the two.
void permute_rows_meta_to_hf(float* data, int64_t rows, int64_t cols, int64_t n_heads);
void permute_rows_hf_to_meta(float* data, int64_t rows, int64_t cols, int64_t n_heads);
void permute_row_bytes_meta_to_hf(uint8_t* data, int64_t rows, size_t row_bytes, int64_t n_heads);
// Where row `meta_row` of a Meta-layout projection with `rows` rows sits in HF order.
int64_t hf_row_of_meta_row(int64_t meta_row, int64_t rows, int64_t n_heads);

}  // namespace frugal
