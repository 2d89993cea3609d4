#include "quant/int8_rowwise.h"

#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/half.h"

namespace frugal {

float quantize_row_int8_ref(const float* x, int64_t n, int8_t* codes) {
  float absmax = 0.0f;
  for (int64_t c = 0; c < n; ++c) {
    const float h = fp16_to_float(float_to_fp16(x[c]));
    if (!std::isfinite(h)) return std::numeric_limits<float>::infinity();
    absmax = std::max(absmax, std::fabs(h));
  }
  if (absmax == 0.0f) {  // bitsandbytes: 0 * (1/0 * 127) = NaN, cast to int8 as 0
    for (int64_t c = 0; c < n; ++c) codes[c] = 0;
    return absmax;
  }
  const float scale = (1.0f / absmax) * 127.0f;
  for (int64_t c = 0; c < n; ++c)
    codes[c] = static_cast<int8_t>(std::nearbyint(fp16_to_float(float_to_fp16(x[c])) * scale));  // half to even
  return absmax;
}

void dequantize_row_int8_ref(const int8_t* codes, float absmax, int64_t n, float* out) {
  for (int64_t c = 0; c < n; ++c) out[c] = (static_cast<float>(codes[c]) * absmax) * kInt8Inv127;
}

namespace {

using RowQuantizer = float (*)(const float*, int64_t, int8_t*);
using RowDequantizer = void (*)(const int8_t*, float, int64_t, float*);

Int8RowwiseMatrix quantize_rows(const float* data, int64_t rows, int64_t cols, const std::string& what,
                                RowQuantizer row) {
  Int8RowwiseMatrix q;
  q.rows = rows;
  q.cols = cols;
  q.codes.resize(static_cast<size_t>(rows * cols));
  q.absmax.resize(static_cast<size_t>(rows));
#pragma omp parallel for if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; ++r) q.absmax[r] = row(data + r * cols, cols, q.codes.data() + r * cols);
  // Checked after the loop: an exception may not leave an OpenMP region.
  for (int64_t r = 0; r < rows; ++r)
    if (!std::isfinite(q.absmax[r]))
      fail(what, "row " + std::to_string(r),
           "holds a value float16 cannot represent (|w| >= 65520, inf or NaN); bitsandbytes' int8 rows start from float16");
  return q;
}

void dequantize_rows(const Int8RowwiseMatrix& q, float* out, RowDequantizer row) {
#pragma omp parallel for if (q.rows * q.cols > 65536)
  for (int64_t r = 0; r < q.rows; ++r) row(q.codes.data() + r * q.cols, q.absmax[r], q.cols, out + r * q.cols);
}

}  // namespace

Int8RowwiseMatrix quantize_matrix_int8_rowwise(const float* data, int64_t rows, int64_t cols, const std::string& what) {
  return quantize_rows(data, rows, cols, what, quantize_row_int8);
}

Int8RowwiseMatrix quantize_matrix_int8_rowwise_ref(const float* data, int64_t rows, int64_t cols,
                                                   const std::string& what) {
  return quantize_rows(data, rows, cols, what, quantize_row_int8_ref);
}

void Int8RowwiseMatrix::dequantize(float* out) const { dequantize_rows(*this, out, dequantize_row_int8); }
void Int8RowwiseMatrix::dequantize_ref(float* out) const { dequantize_rows(*this, out, dequantize_row_int8_ref); }

}  // namespace frugal
