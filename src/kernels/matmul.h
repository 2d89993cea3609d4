// Linear layers: y[M, N] = x[M, K] · W[N, K]^T, W in our [out, in] layout.
// matmul_ref is the scalar reference; matmul is the fast path (oneDNN, fp32 or bf16 with fp32
// accumulation), tested against the reference.
#pragma once
#include <cstdint>

#include "core/precision.h"
#include "quant/matrix.h"

namespace frugal {

void matmul_ref(float* y, const float* x, const float* w, int64_t M, int64_t N, int64_t K);

// Uses w.bf16 when precision is BF16 (call prepare_bf16 first); y is overwritten.
void matmul(float* y, const float* x, const Matrix& w, int64_t M, Precision precision);
// Backward of matmul for the input: dx[M, K] (+)= dy[M, N] · W[N, K].
void matmul_backward_input(float* dx, const float* dy, const Matrix& w, int64_t M, Precision precision, bool accumulate);
// Backward for the weight (full fine-tuning), fp32: dW[N, K] += dy[M, N]^T · x[M, K].
void matmul_backward_weight(float* dw, const float* dy, const float* x, int64_t M, int64_t N, int64_t K);
// Same product as matmul with raw pointers (fp32 weights).
void matmul_f32(float* y, const float* x, const float* w, int64_t M, int64_t N, int64_t K);

// Rounds w.data into w.bf16 once, so bf16 matmuls never convert weights per call.
void prepare_bf16(Matrix& w);

}  // namespace frugal
