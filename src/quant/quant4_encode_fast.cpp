// SIMD 4-bit quantization (NF4 and FP4), bit-identical to quantize_4bit_ref. Per block: the absmax as a
// vector max, then 16 values at a time are scaled by the same single fp32 operation as the reference (x * inv
// in whole blocks, x / absmax in the short last block) and coded by a branchless binary search over the 15
// sorted midpoints held in one register (4 vpermps lookups + compares instead of up to 15 scalar compares).
// "Midpoints strictly below" is kept exactly: a tie is not below, so it goes to the lower code, and a NaN
// compares false everywhere and gets sorted position 0, as in the reference. The reference's clamp to
// [-1, 1] is left out because it cannot change a code: every midpoint lies strictly inside (-1, 1).
#include "quant/codec_tables.h"
#include "quant/nf4.h"

#if defined(__AVX512F__)
#include <algorithm>
#include <cmath>

#include "quant/simd_block.h"
#endif

namespace frugal {

#if defined(__AVX512F__)

namespace {

struct Quant4Search {
  __m512 mid;    // the 15 midpoints ascending; lane 15 is never read
  __m512i code;  // sorted position -> code index
  float mid7;    // the first probe of every search
};

Quant4Search load_search(Quant4Type type) {
  const Quant4Bounds& b = quant4_bounds(type);
  alignas(64) float mid[16];
  alignas(64) int32_t code[16];
  std::copy(b.mid.begin(), b.mid.end(), mid);
  mid[15] = INFINITY;
  std::copy(b.code.begin(), b.code.end(), code);
  return {_mm512_load_ps(mid), _mm512_load_si512(code), mid[7]};
}

// Codes of 16 scaled values: the number of midpoints strictly below each value, then its code index.
inline __m512i codes_of(const Quant4Search& s, __m512 v) {
  // pos += step wherever mid[pos + step - 1] < v, for step = 8, 4, 2, 1 (the first probe is mid[7] everywhere).
  using simd::kAll;
  __m512i pos = _mm512_maskz_mov_epi32(_mm512_cmp_ps_mask(_mm512_set1_ps(s.mid7), v, _CMP_LT_OQ),
                                       _mm512_set1_epi32(8));
  for (int step : {4, 2, 1}) {
    const __m512 probe = _mm512_maskz_permutexvar_ps(kAll, _mm512_add_epi32(pos, _mm512_set1_epi32(step - 1)), s.mid);
    pos = _mm512_mask_add_epi32(pos, _mm512_cmp_ps_mask(probe, v, _CMP_LT_OQ), pos, _mm512_set1_epi32(step));
  }
  return _mm512_maskz_permutexvar_epi32(kAll, pos, s.code);
}

// 16 codes, one per int32 lane -> 8 bytes, element 2k in the high nibble of byte k. Each 64-bit lane holds an
// (even, odd) pair; shifting the lane left by 4 and OR-ing its high half down puts both nibbles in its low
// byte, which vpmovqb keeps.
inline __m128i pack_nibbles(__m512i codes) {
  using simd::kAll8;
  const __m512i pairs =
      _mm512_or_si512(_mm512_maskz_slli_epi64(kAll8, codes, 4), _mm512_maskz_srli_epi64(kAll8, codes, 32));
  return _mm512_maskz_cvtepi64_epi8(kAll8, pairs);
}

}  // namespace

void quantize_4bit(const float* x, int64_t n, int64_t blocksize, Quant4Type type, uint8_t* packed, float* absmax) {
  // An odd block size starts blocks in the middle of a byte; bitsandbytes only has even ones (powers of two).
  if (blocksize <= 0 || blocksize % 2 != 0) {
    quantize_4bit_ref(x, n, blocksize, type, packed, absmax);
    return;
  }
  const Quant4Search search = load_search(type);
  const int64_t nb = num_blocks(n, blocksize);
  const int64_t full = n / blocksize;
  for (int64_t blk = 0; blk < nb; ++blk) {
    const int64_t lo = blk * blocksize, len = std::min(blocksize, n - lo);
    const float* xb = x + lo;
    uint8_t* out = packed + lo / 2;
    const float am = simd::block_absmax(xb, len);
    absmax[blk] = am;
    const float safe = std::max(am, 1e-38f);
    const bool whole = blk < full;
    const __m512 inv = _mm512_set1_ps(1.0f / safe), divisor = _mm512_set1_ps(safe);
    auto scale = [&](__m512 v) { return whole ? _mm512_mul_ps(v, inv) : _mm512_div_ps(v, divisor); };
    int64_t i = 0;
    for (; i + simd::kLanes <= len; i += simd::kLanes)
      _mm_storel_epi64(reinterpret_cast<__m128i*>(out + i / 2),
                       pack_nibbles(codes_of(search, scale(_mm512_loadu_ps(xb + i)))));
    if (i < len) {
      // The lanes past the end load as 0.0, so with an odd n the padding nibble comes out as the code of 0.0.
      const int64_t count = len - i;
      const __m512 v = _mm512_maskz_loadu_ps(simd::first_lanes(count), xb + i);
      _mm_mask_storeu_epi8(out + i / 2, static_cast<__mmask16>((1u << ((count + 1) / 2)) - 1u),
                           pack_nibbles(codes_of(search, scale(v))));
    }
  }
}

#else

void quantize_4bit(const float* x, int64_t n, int64_t blocksize, Quant4Type type, uint8_t* packed, float* absmax) {
  quantize_4bit_ref(x, n, blocksize, type, packed, absmax);
}

#endif

}  // namespace frugal
