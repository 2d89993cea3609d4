#include "quant/codec_tables.h"

#include <algorithm>
#include <numeric>

namespace frugal {

namespace {

Quant4Bounds make_bounds(Quant4Type type) {
  const auto& cb = quant4_codebook(type);
  Quant4Bounds b{};
  std::array<int, 16> order{};
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int c) { return cb[a] < cb[c]; });
  for (int i = 0; i < 16; ++i) b.code[i] = static_cast<uint8_t>(order[i]);
  for (int i = 0; i < 15; ++i) b.mid[i] = (cb[order[i]] + cb[order[i + 1]]) / 2.0f;
  return b;
}

}  // namespace

const Quant4Bounds& quant4_bounds(Quant4Type type) {
  static const Quant4Bounds nf4 = make_bounds(Quant4Type::kNf4);
  static const Quant4Bounds fp4 = make_bounds(Quant4Type::kFp4);
  return type == Quant4Type::kNf4 ? nf4 : fp4;
}

void fill_blockwise_8bit_bin_lut(const float* code, uint8_t* lut) {
  float mid[255];
  for (int i = 0; i < 255; ++i) mid[i] = 0.5f * (code[i] + code[i + 1]);
  for (int i = 0, c = 0; i < kBlockwise8bitBins; ++i) {
    const float v = -1.0f + (2.0f * static_cast<float>(i)) / static_cast<float>(kBlockwise8bitBins - 1);
    while (c < 255 && mid[c] < v) ++c;
    lut[i] = static_cast<uint8_t>(c);
  }
}

}  // namespace frugal
