// Products with 16-bit weights as a GGUF file stores them (F16 or BF16, quant/packed_matrix.h
// HalfRows), for decode steps: each weight is read once per token in its 2 bytes, converted to fp32
// exactly in registers and multiplied with the fp32 activation, accumulating in fp32. The activation
// is not rounded (unlike a bf16 matmul), so the result is the fp32 product of the stored weights.
// half_matvec_ref is the scalar reference; the fast path is tested against it.
#pragma once
#include <cstdint>

#include "quant/packed_matrix.h"

namespace frugal {

// y[M, N] = x[M, K] · W[N, K]^T for M rows of activations (a decode step has one). Threads take
// chunks of rows as they come free, as the integer path does.
void half_matvec(float* y, const float* x, int64_t M, const HalfRows& w);
void half_matvec_ref(float* y, const float* x, int64_t M, const HalfRows& w);

// "avx512" or "scalar": which path half_matvec was compiled with (for `frugal info` and tests).
const char* half_matvec_isa();

// The products the inference session sends through this path (a decode step, or a few sequences
// decoded together); longer inputs dequantize a band of rows at a time for a matmul.
inline constexpr int64_t kHalfMatvecMaxRows = 8;

}  // namespace frugal
