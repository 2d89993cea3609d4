// A frozen weight laid out for decoding: every value as a small unsigned integer code u with a
// scale per group of 16 or 32 values (and an offset per group, or one integer zero point for the
// whole matrix), w = scale * u + offset. A matrix-vector product then runs on integer dot
// products with the activation rounded to int8 per 32 values, the unsigned-by-signed byte product
// that AVX512-VNNI's vpdpbusd computes:
//   y_r = sum_g scale[r,g] d_x(g) sum_{e in g} u_e q_e  +  sum_g offset[r,g] d_x(g) sum_{e in g} q_e
// Every GGUF block type frugal reads maps onto it exactly (the codes and the per-group affine map
// give back the stored values); only the activation is rounded, as llama.cpp does for these types.
//
// Codes are kept in chunks of 64 values, the width of one zmm register of bytes:
//   Nibble  (u < 16): 32 bytes; byte j holds value j in its low nibble, value j + 32 in its high one
//   Nibble5 (u < 32): the same 32 bytes, then 8 bytes whose bit e is bit 4 of value e
//   Byte    (u < 256): 64 bytes, one per value
// Rows are padded to a multiple of 64 values with zero codes and zero scales.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "quant/ggml_types.h"

namespace frugal {

enum class CodePlane : uint8_t { Nibble, Nibble5, Byte };

struct IntDotMatrix {
  int64_t rows = 0, cols = 0;
  int64_t padded_cols = 0;  // cols rounded up to 64
  int group = 32;           // values sharing a scale: 16 (Q6_K) or 32
  CodePlane plane = CodePlane::Byte;
  // Symmetric types store no offsets: w = scale * (u - zero). Asymmetric ones (Q4_1, Q5_1, K-quants
  // with their mins) store offset[r, g] and zero is 0.
  int zero = 0;
  std::string source;                // the stored type this came from ("Q4_1", ...), for reports
  std::vector<uint8_t> codes;        // rows * row_code_bytes()
  std::vector<float> scale, offset;  // rows * groups(); offset empty when symmetric

  int64_t chunks() const { return padded_cols / 64; }
  int64_t groups() const { return padded_cols / group; }
  int64_t chunk_bytes() const { return plane == CodePlane::Nibble ? 32 : plane == CodePlane::Nibble5 ? 40 : 64; }
  int64_t row_code_bytes() const { return chunks() * chunk_bytes(); }
  bool symmetric() const { return offset.empty(); }
  const uint8_t* row_codes(int64_t r) const { return codes.data() + r * row_code_bytes(); }
  // Code of value c of row r (c < padded_cols).
  uint32_t code(int64_t r, int64_t c) const;
  // The stored values of row r, cols of them: the fast path (int_dot_matrix_fast.cpp) and the
  // scalar reference, bit for bit the same.
  void dequantize_row(int64_t r, float* out) const;
  void dequantize_row_ref(int64_t r, float* out) const;
  int64_t bytes() const;
};

// Types int_dot_from_ggml takes: the block types (not F32 / F16 / BF16, whose products stay float).
bool int_dot_supports(GgmlType type);
// `rows` rows of `cols` values in ggml `type` (ggml_row_bytes(type, cols) bytes each).
IntDotMatrix int_dot_from_ggml(GgmlType type, const uint8_t* blocks, int64_t rows, int64_t cols);

// The activation side of the product, for one vector of `cols` values, per block of 32 values:
// x = d (q + q_res / 256), where q = round(x / d) with d = max|x| / 127 (int8, as llama.cpp rounds
// activations) and q_res the int8 rounding of what that leaves, in steps of d / 256. Because the
// residual's step is the first one's over a power of two, the kernel adds its products to the
// first ones' shifted left by 8, in int32, before one conversion and one scale: about 15 bits of
// activation for one more vpdpbusd per chunk. The product then stays within 0.01% perplexity of
// fp32, where int8 alone moves it by ~0.5%. Rounding is to nearest, ties to even (what the SIMD
// conversion does); q_res is clamped to +-127 (a rounding at exactly d / 2 can ask for 128).
inline constexpr int kResidualShift = 8;
inline constexpr float kResidualStep = 1.0f / (1 << kResidualShift);

struct QuantizedActivation {
  int64_t cols = 0, padded_cols = 0;
  std::vector<int8_t> q, q_res;   // padded_cols each, zero past cols
  std::vector<float> d;           // per 32 values
  // Per chunk of 64, 16 lanes: d / 256 of the 32 values whose products lane i sums (the scale of
  // the combined sum (q << 8) + q_res).
  std::vector<float> lane_scale;
  std::vector<float> sum16, sum32;  // d (sum q + sum q_res / 256) over each group of 16 / 32 (the offsets' factor)
};

// Sizes every array for `cols` values and zeroes it (the padding past cols stays zero); no
// allocation once the vectors have held this size.
void reset_activation(QuantizedActivation& a, int64_t cols);

// d (q_sum + res_sum / 256), with one rounding order both paths share: exact integer sums, then one product.
inline float activation_sum(float d, int q_sum, int res_sum) {
  return d * kResidualStep * static_cast<float>(q_sum * (1 << kResidualShift) + res_sum);
}

// The scalar reference; kernels/int_dot.h has the fast path, tested equal to it.
void quantize_activation_ref(const float* x, int64_t cols, QuantizedActivation& out);

// Scalar reference of one output: integer sums per group, then the scales, in double.
double int_dot_row_ref(const IntDotMatrix& m, int64_t r, const QuantizedActivation& x);

}  // namespace frugal
