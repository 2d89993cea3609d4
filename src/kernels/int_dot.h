// Matrix-vector products on weights held for decoding (quant/int_dot_matrix.h): the activation is
// rounded to int8 per 32 values once, then every row is an integer dot product per chunk of 64
// values (AVX512-VNNI vpdpbusd), scaled per group in fp32. This is where a decode step spends its
// time: each weight byte is read once per token, a quarter to an eighth of what a bf16 copy reads.
// The scalar references are int_dot_row_ref and quantize_activation_ref; the fast paths here are
// tested against them.
#pragma once
#include <cstdint>

#include "quant/int_dot_matrix.h"
#include "quant/matrix.h"

namespace frugal {

// Same result as quantize_activation_ref, bit for bit.
void quantize_activation(const float* x, int64_t cols, QuantizedActivation& out);

// y[r] = row r of m . x, for every row (x.padded_cols must equal m.padded_cols). Threads take
// chunks of rows as they come free, so a core shared with another process slows only its chunks.
void int_dot_matvec(float* y, const IntDotMatrix& m, const QuantizedActivation& x);
// The reference for a range of rows, through int_dot_row_ref.
void int_dot_matvec_ref(float* y, const IntDotMatrix& m, const QuantizedActivation& x);

// "avx512-vnni" or "scalar": which path int_dot_matvec was compiled with (for `frugal info` and tests).
const char* int_dot_isa();

// Replaces a compact weight whose type has a decoding layout (GGUF blocks: the integer-dot layout;
// F16 / BF16 rows: themselves, offered to kernels/half_matvec.h) by that layout, once. Returns
// whether w now holds one.
bool prepare_int_dot(Matrix& w);

// The products the inference session sends through the integer path: at most this many rows of
// activations (a decode step, or a few sequences decoded together); longer inputs dequantize.
inline constexpr int64_t kIntDotMaxRows = 8;

}  // namespace frugal
