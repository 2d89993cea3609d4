#include "quant/int8_rowwise.h"

#include <algorithm>
#include <cmath>

namespace frugal {

Int8RowwiseMatrix quantize_matrix_int8_rowwise(const float* data, int64_t rows, int64_t cols) {
  Int8RowwiseMatrix q;
  q.rows = rows;
  q.cols = cols;
  q.codes.resize(static_cast<size_t>(rows * cols));
  q.absmax.resize(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = data + r * cols;
    float am = 0.0f;
    for (int64_t c = 0; c < cols; ++c) am = std::max(am, std::fabs(x[c]));
    q.absmax[r] = am;
    const float scale = am > 0.0f ? 127.0f / am : 0.0f;
    // nearbyint: round half to even, as torch.round.
    for (int64_t c = 0; c < cols; ++c)
      q.codes[r * cols + c] = static_cast<int8_t>(std::clamp(std::nearbyint(x[c] * scale), -127.0f, 127.0f));
  }
  return q;
}

void Int8RowwiseMatrix::dequantize(float* out) const {
  for (int64_t r = 0; r < rows; ++r) {
    const float step = absmax[r] / 127.0f;
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = static_cast<float>(codes[r * cols + c]) * step;
  }
}

}  // namespace frugal
