// A weight matrix [out, in] however it is held: fp32 values (with a bf16 copy for the fast path),
// 4-bit blocks (QLoRA), or int8 rows / GGUF blocks (packed). Below the kernels, which multiply by
// it, and the model, which is made of them.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "quant/packed_matrix.h"
#include "quant/quantized_matrix.h"

namespace frugal {

struct Matrix {
  int64_t rows = 0;  // out features
  int64_t cols = 0;  // in features
  std::vector<float> data;  // [rows, cols]; empty when the weight is held compactly (q4, packed)
  std::vector<uint16_t> bf16;  // same values rounded to bf16 for the fast path; filled on demand
  std::shared_ptr<const Quant4Matrix> q4;  // frozen 4-bit storage (QLoRA); dequantized per product
  std::shared_ptr<const PackedMatrix> packed;  // frozen int8 rows or GGUF blocks; likewise
  bool empty() const { return data.empty() && !q4 && !packed; }
  bool compact() const { return q4 || packed; }
  // All values as fp32 into `out` (rows * cols), whatever holds them.
  void dequantize_into(float* out) const;
  // A compact matrix becomes a plain fp32 one (to be changed, e.g. by a merge); no-op otherwise.
  void expand_to_fp32();
  void resize(int64_t r, int64_t c) { rows = r; cols = c; data.assign(static_cast<size_t>(r * c), 0.0f); }
  void set_shape(int64_t r, int64_t c) { rows = r; cols = c; }
};

}  // namespace frugal
