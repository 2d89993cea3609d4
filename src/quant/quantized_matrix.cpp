#include "quant/quantized_matrix.h"

#include <cstddef>

namespace frugal {

Quant4Matrix quantize_matrix_4bit(const float* data, int64_t rows, int64_t cols, Quant4Type type, bool double_quant,
                                  int64_t blocksize) {
  Quant4Matrix q;
  q.type = type;
  q.rows = rows;
  q.cols = cols;
  q.blocksize = blocksize;
  q.double_quant = double_quant;
  const int64_t n = rows * cols;
  q.packed.resize(static_cast<size_t>(quant4_packed_bytes(n)));
  std::vector<float> absmax(static_cast<size_t>(num_blocks(n, blocksize)));
  quantize_4bit(data, n, blocksize, type, q.packed.data(), absmax.data());
  if (double_quant) q.scales = double_quantize_scales(absmax.data(), static_cast<int64_t>(absmax.size()));
  else q.absmax = std::move(absmax);
  return q;
}

void Quant4Matrix::dequantize(float* out) const {
  const int64_t n = rows * cols;
  if (!double_quant) {
    dequantize_4bit(packed.data(), absmax.data(), n, blocksize, type, out);
    return;
  }
  thread_local std::vector<float> block_scales;
  block_scales.resize(static_cast<size_t>(num_blocks(n, blocksize)));
  double_dequantize_scales(scales, block_scales.data());
  dequantize_4bit(packed.data(), block_scales.data(), n, blocksize, type, out);
}

int64_t Quant4Matrix::bytes() const {
  return static_cast<int64_t>(packed.size() + absmax.size() * 4 + scales.codes.size() +
                              scales.nested_absmax.size() * 4 + (double_quant ? 4 : 0));
}

}  // namespace frugal
