// General matrix product through oneDNN, for the passes that need transposed operands
// (backward: dX = dY W, dW = dY^T X; LoRA's small rank-r products).
//   C[M, N] (+)= op(A)[M, K] · op(B)[K, N]
// A is stored row-major as [M, K], or as [K, M] when trans_a; B as [K, N], or [N, K] when trans_b.
#pragma once
#include <cstdint>

#include "core/precision.h"

namespace frugal {

struct GemmShape {
  int64_t M, N, K;
  bool trans_a = false, trans_b = false;
  bool accumulate = false;  // C += instead of C =
};

void gemm_f32(float* C, const float* A, const float* B, const GemmShape& shape);
// bf16 operands (uint16_t storage), fp32 result and accumulation.
void gemm_bf16(float* C, const uint16_t* A, const uint16_t* B, const GemmShape& shape);
// Scalar reference in double, for tests.
void gemm_ref(float* C, const float* A, const float* B, const GemmShape& shape);

}  // namespace frugal
