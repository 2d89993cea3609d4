// Linear-layer products on top of gemm: the forward y = x W^T and the backward dx = dy W, in fp32
// or bf16 (weights pre-rounded once by prepare_bf16, activations rounded per call).
#include <algorithm>
#include <vector>

#include "core/half.h"
#include "kernels/gemm.h"
#include "kernels/half_matvec.h"
#include "kernels/int_dot.h"
#include "kernels/matmul.h"

namespace frugal {

namespace {
// Activations are rounded to bf16 per call into a reused buffer, never allocated per step.
const uint16_t* to_bf16(const float* x, size_t n) {
  thread_local std::vector<uint16_t> buffer;
  if (buffer.size() < n) buffer.resize(n);
  uint16_t* b = buffer.data();
#pragma omp parallel for if (n > 16384)
  for (size_t i = 0; i < n; ++i) b[i] = float_to_bf16(x[i]);
  return b;
}

// The weight as the product needs it: fp32 data, or a compact matrix dequantized into a scratch
// buffer reused across calls (one matrix at a time, never the whole model), rounded to bf16 too
// when the product runs in bf16.
struct WeightView {
  const float* f32 = nullptr;
  const uint16_t* bf16 = nullptr;
};

WeightView weight_view(const Matrix& w, Precision precision) {
  if (!w.compact()) return {w.data.data(), w.bf16.empty() ? nullptr : w.bf16.data()};
  thread_local std::vector<float> scratch;
  thread_local std::vector<uint16_t> scratch_bf16;
  const size_t n = static_cast<size_t>(w.rows * w.cols);
  scratch.resize(n);
  w.dequantize_into(scratch.data());
  if (precision == Precision::F32) return {scratch.data(), nullptr};
  scratch_bf16.resize(n);
  uint16_t* b = scratch_bf16.data();
  const float* f = scratch.data();
#pragma omp parallel for if (n > 65536)
  for (size_t i = 0; i < n; ++i) b[i] = float_to_bf16(f[i]);
  return {scratch.data(), scratch_bf16.data()};
}

}  // namespace

void matmul_f32(float* y, const float* x, const float* w, int64_t M, int64_t N, int64_t K) {
  gemm_f32(y, x, w, {M, N, K, false, true, false});
}

void prepare_bf16(Matrix& w) {
  if (!w.bf16.empty() || w.data.empty()) return;
  w.bf16.resize(w.data.size());
#pragma omp parallel for
  for (size_t i = 0; i < w.data.size(); ++i) w.bf16[i] = float_to_bf16(w.data[i]);
}


namespace {

// A compact matrix above this many values is dequantized a band of rows at a time for a product
// with many activation rows, so the scratch stays small even for a 262k-token output head.
constexpr int64_t kBandValues = int64_t{1} << 22;

// y [M, N] = x W^T for a packed W, band by band: each band's rows dequantized (and rounded to bf16)
// into scratch, multiplied, and its columns of y filled.
void matmul_packed_banded(float* y, const float* x, const Matrix& w, int64_t M, Precision precision) {
  const int64_t N = w.rows, K = w.cols, band = std::max<int64_t>(1, kBandValues / K);
  thread_local std::vector<float> wf, yb;
  thread_local std::vector<uint16_t> wb;
  wf.resize(static_cast<size_t>(band * K));
  yb.resize(static_cast<size_t>(M * band));
  if (precision == Precision::BF16) wb.resize(wf.size());
  const uint16_t* xb = precision == Precision::BF16 ? to_bf16(x, static_cast<size_t>(M * K)) : nullptr;
  // Plain pointers: inside the parallel regions the names would denote each worker's own thread_local.
  float* const w_f32 = wf.data();
  uint16_t* const w_bf16 = wb.data();
  float* const y_band = yb.data();
  for (int64_t r0 = 0; r0 < N; r0 += band) {
    const int64_t n = std::min(band, N - r0);
#pragma omp parallel for
    for (int64_t r = 0; r < n; ++r) {
      w.packed->dequantize_row(r0 + r, w_f32 + r * K);
      if (xb) for (int64_t k = 0; k < K; ++k) w_bf16[r * K + k] = float_to_bf16(w_f32[r * K + k]);
    }
    const GemmShape shape{M, n, K, false, true, false};
    if (xb) gemm_bf16(y_band, xb, w_bf16, shape);
    else gemm_f32(y_band, x, w_f32, shape);
#pragma omp parallel for if (M * n > 65536)
    for (int64_t i = 0; i < M; ++i) std::copy(y_band + i * n, y_band + (i + 1) * n, y + i * N + r0);
  }
}

}  // namespace

void matmul(float* y, const float* x, const Matrix& w, int64_t M, Precision precision) {
  if (const IntDotMatrix* d = w.packed ? w.packed->int_dot() : nullptr; d && M <= kIntDotMaxRows) {
    // A decode step: integer dot products on the stored codes, the activation rounded to int8.
    thread_local QuantizedActivation act;
    for (int64_t i = 0; i < M; ++i) {
      quantize_activation(x + i * w.cols, w.cols, act);
      int_dot_matvec(y + i * w.rows, *d, act);
    }
    return;
  }
  if (const HalfRows* h = w.packed ? w.packed->half_rows() : nullptr; h && M <= kHalfMatvecMaxRows)
    return half_matvec(y, x, M, *h);  // a decode step on F16/BF16 weights as stored
  if (w.packed && w.rows * w.cols > kBandValues) return matmul_packed_banded(y, x, w, M, precision);
  const GemmShape shape{M, w.rows, w.cols, false, true, false};
  const WeightView v = weight_view(w, precision);
  if (precision == Precision::F32 || !v.bf16) gemm_f32(y, x, v.f32, shape);
  else gemm_bf16(y, to_bf16(x, static_cast<size_t>(M * w.cols)), v.bf16, shape);
}

void matmul_backward_input(float* dx, const float* dy, const Matrix& w, int64_t M, Precision precision, bool accumulate) {
  const GemmShape shape{M, w.cols, w.rows, false, false, accumulate};
  const WeightView v = weight_view(w, precision);
  if (precision == Precision::F32 || !v.bf16) gemm_f32(dx, dy, v.f32, shape);
  else gemm_bf16(dx, to_bf16(dy, static_cast<size_t>(M * w.rows)), v.bf16, shape);
}

void matmul_backward_weight(float* dw, const float* dy, const float* x, int64_t M, int64_t N, int64_t K) {
  gemm_f32(dw, dy, x, {N, K, M, true, false, true});
}

}  // namespace frugal
