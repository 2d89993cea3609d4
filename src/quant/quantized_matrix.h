// A frozen linear weight stored in 4 bits (bitsandbytes NF4/FP4 layout, optionally with
// double-quantized block scales). It is never expanded for the whole model: the matmul path
// dequantizes one matrix at a time into a reused scratch buffer right before its product.
#pragma once
#include <cstdint>
#include <vector>

#include "quant/nf4.h"

namespace frugal {

struct Quant4Matrix {
  Quant4Type type = Quant4Type::kNf4;
  int64_t rows = 0, cols = 0;  // [out, in], as the fp32 matrix it came from
  int64_t blocksize = 64;
  bool double_quant = true;
  std::vector<uint8_t> packed;  // (rows * cols + 1) / 2, first element in the high nibble
  std::vector<float> absmax;    // one per block, when !double_quant
  DoubleQuantScales scales;     // when double_quant

  // All rows * cols values as fp32 into `out`.
  void dequantize(float* out) const;
  // Resident bytes of the codes and scales.
  int64_t bytes() const;
};

Quant4Matrix quantize_matrix_4bit(const float* data, int64_t rows, int64_t cols, Quant4Type type, bool double_quant,
                                  int64_t blocksize = 64);

}  // namespace frugal
