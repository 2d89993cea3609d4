// Linear-layer products on top of gemm: the forward y = x W^T and the backward dx = dy W, in fp32
// or bf16 (weights pre-rounded once by prepare_bf16, activations rounded per call).
#include <vector>

#include "core/half.h"
#include "kernels/gemm.h"
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


void matmul(float* y, const float* x, const Matrix& w, int64_t M, Precision precision) {
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
