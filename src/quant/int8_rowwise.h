// Symmetric int8 with one absmax per row: what bitsandbytes' LLM.int8 stores for a frozen linear
// weight (Int8Params: CB = round(W * 127 / absmax_row), SCB = absmax_row; outlier columns aside,
// threshold 0). Per row rather than blockwise because that is the layout transformers' 8-bit
// checkpoints hold and matmul kernels for int8 expect. Not checked bit for bit against bitsandbytes.
#pragma once
#include <cstdint>
#include <vector>

namespace frugal {

struct Int8RowwiseMatrix {
  int64_t rows = 0, cols = 0;  // [out, in]
  std::vector<int8_t> codes;   // [rows, cols]
  std::vector<float> absmax;   // [rows]; a row of zeros has absmax 0 and codes 0

  void dequantize(float* out) const;  // out[r, c] = codes[r, c] * absmax[r] / 127
  int64_t bytes() const { return static_cast<int64_t>(codes.size() + absmax.size() * sizeof(float)); }
};

Int8RowwiseMatrix quantize_matrix_int8_rowwise(const float* data, int64_t rows, int64_t cols);

}  // namespace frugal
