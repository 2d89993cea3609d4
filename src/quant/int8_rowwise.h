// Symmetric int8 with one absmax per row: what bitsandbytes' LLM.int8 stores for a frozen linear
// weight (Int8Params: CB, SCB; no outlier columns are held back from a weight). Per row rather than
// blockwise because that is the layout transformers' 8-bit checkpoints hold. Bit for bit what
// bitsandbytes 0.50.2 computes (tests/reference/make_bnb_int8_fixtures.py), all in fp32:
//   h = float16(w)                           Int8Params casts the weight to float16 first
//   absmax = max |h| over the row            (SCB)
//   code = round_half_even(h * ((1 / absmax) * 127))   torch's 127.0 / t is t.reciprocal() * 127;
//                                            a zero row gives 0 * inf = NaN, which casts to 0
//   dequantized = (code * absmax) * float(1 / 127)     bitsandbytes.functional.int8_vectorwise_dequant
// Weights beyond float16's range (|w| >= 65520) or not finite have no such code and are refused.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace frugal {

struct Int8RowwiseMatrix {
  int64_t rows = 0, cols = 0;  // [out, in]
  std::vector<int8_t> codes;   // [rows, cols]
  std::vector<float> absmax;   // [rows]; a row of zeros has absmax 0 and codes 0

  void dequantize(float* out) const;      // the fast path where the CPU has one, bit-identical to:
  void dequantize_ref(float* out) const;  // out[r, c] = (codes[r, c] * absmax[r]) * float(1 / 127)
  int64_t bytes() const { return static_cast<int64_t>(codes.size() + absmax.size() * sizeof(float)); }
};

// `what` names the matrix in the error for a value float16 cannot hold.
Int8RowwiseMatrix quantize_matrix_int8_rowwise(const float* data, int64_t rows, int64_t cols,
                                               const std::string& what = "int8 matrix");
Int8RowwiseMatrix quantize_matrix_int8_rowwise_ref(const float* data, int64_t rows, int64_t cols,
                                                   const std::string& what = "int8 matrix");

// One row of n values. quantize returns its absmax, or a non-finite value when the row holds one
// float16 cannot represent (its codes are then meaningless).
float quantize_row_int8(const float* x, int64_t n, int8_t* codes);
float quantize_row_int8_ref(const float* x, int64_t n, int8_t* codes);
void dequantize_row_int8(const int8_t* codes, float absmax, int64_t n, float* out);
void dequantize_row_int8_ref(const int8_t* codes, float absmax, int64_t n, float* out);
const char* int8_rowwise_isa();  // "avx512" or "scalar"

// float(1 / 127), the factor bitsandbytes multiplies by (7.874015718698502e-3 in its source).
inline constexpr float kInt8Inv127 = static_cast<float>(1.0 / 127.0);

}  // namespace frugal
