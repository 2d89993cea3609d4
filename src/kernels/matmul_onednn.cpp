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
  if (precision == Precision::F32 || w.bf16.empty()) gemm_f32(y, x, w.data.data(), shape);
  else gemm_bf16(y, to_bf16(x, static_cast<size_t>(M * w.cols)), w.bf16.data(), shape);
}

void matmul_backward_input(float* dx, const float* dy, const Matrix& w, int64_t M, Precision precision, bool accumulate) {
  const GemmShape shape{M, w.cols, w.rows, false, false, accumulate};
  if (precision == Precision::F32 || w.bf16.empty()) gemm_f32(dx, dy, w.data.data(), shape);
  else gemm_bf16(dx, to_bf16(dy, static_cast<size_t>(M * w.rows)), w.bf16.data(), shape);
}

void matmul_backward_weight(float* dw, const float* dy, const float* x, int64_t M, int64_t N, int64_t K) {
  gemm_f32(dw, dy, x, {N, K, M, true, false, true});
}

}  // namespace frugal
