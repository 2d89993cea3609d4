// Code-selection tables shared by the scalar reference codecs (nf4.cpp) and their SIMD paths, so both pick
// codes from the very same fp32 numbers and can only differ in how they walk the data.
#pragma once
#include <array>
#include <cstdint>

#include "quant/nf4.h"

namespace frugal {

// 4-bit: the codebook sorted ascending (stable, so FP4's two +0.0 entries keep index order), the 15 midpoints
// between neighbours, and the code index at each sorted position. A value's code is code[k] where k is the
// number of midpoints strictly below it (torch.bucketize, right=False).
struct Quant4Bounds {
  std::array<float, 15> mid;
  std::array<uint8_t, 16> code;
};
const Quant4Bounds& quant4_bounds(Quant4Type type);

// 8-bit blockwise (bitsandbytes' CPU lookup): [-1, 1] is cut into 65536 bins, bin i standing for
// -1 + 2i/65535, and lut[i] is the nearest code of that value (ties to the lower code).
constexpr int kBlockwise8bitBins = 65536;
void fill_blockwise_8bit_bin_lut(const float* code, uint8_t* lut);  // code[256] sorted, lut[kBlockwise8bitBins]

}  // namespace frugal
