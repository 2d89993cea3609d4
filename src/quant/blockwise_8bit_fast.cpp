// SIMD blockwise 8-bit codec, bit-identical to quantize_blockwise_8bit_ref / dequantize_blockwise_8bit_ref.
//  - quantize: per block a vector absmax (NaN ignored), then 16 values at a time go through the reference's
//    exact fp32 steps (x * inv, clamp, (v + 1) * 0.5, * 65535, + 0.5, truncate), each product forced to
//    fp32 before the next add as in the reference (GCC would otherwise fuse * 65535 + 0.5 into an FMA; an
//    exhaustive run over every fp32 v in [-1, 1] found that this never moves a bin, but the barrier costs
//    nothing and keeps the two paths' arithmetic literally the same); each bin's code then comes from a
//    binary search in registers that reproduces the reference's 65536-entry table exactly (see CodeSearch).
//  - dequantize: 16 codes widened to int32, their values gathered from the 256-entry code (1 KiB, in L1),
//    times the block's absmax: the same single fp32 product as the reference.
#include <cstring>
#include <vector>

#include "quant/codec_tables.h"
#include "quant/nf4.h"

#if defined(__AVX512F__)
#include <algorithm>
#include <array>

#include "quant/simd_block.h"
#endif

namespace frugal {

#if defined(__AVX512F__)

namespace {

// The reference's bin -> code table is a non-decreasing step function of the bin, so it is exactly
// "the number of thresholds <= bin", threshold[c] being the first bin whose code exceeds c. That count is
// found by a branchless binary search over 32 bins at a time (16-bit lanes) whose probes sit in registers:
// a gather from the 64 KiB table itself misses L1 often enough to cost more than all this arithmetic
// (measured 4.2 GB/s with the gather against 18.6 without any lookup). For step s the search position is a
// multiple of 2s, so level s only needs threshold[j * 2s + s - 1]. A threshold past the last bin (a code
// above 1.0) does not fit in 16 bits: it is stored as 65535 and the count capped at the last bin's code.
struct CodeSearch {
  uint16_t first;                   // step 128: threshold[127]
  uint16_t last_code;               // the code of bin 65535
  // Steps 64, 32, 16, 8, 4 use the first 2, 4, 8, 16, 32 entries of their table; 2 and 1 need 64 and 128.
  alignas(64) uint16_t step64[32];
  alignas(64) uint16_t step32[32];
  alignas(64) uint16_t step16[32];
  alignas(64) uint16_t step8[32];
  alignas(64) uint16_t step4[32];
  alignas(64) uint16_t step2[64];
  alignas(64) uint16_t step1[128];
};

CodeSearch make_code_search(const float* code) {
  std::vector<uint8_t> lut(kBlockwise8bitBins);
  fill_blockwise_8bit_bin_lut(code, lut.data());
  std::array<uint16_t, 255> threshold;
  threshold.fill(kBlockwise8bitBins - 1);
  for (int32_t bin = kBlockwise8bitBins - 1; bin >= 0; --bin)
    for (int c = 0; c < lut[bin]; ++c) threshold[c] = static_cast<uint16_t>(bin);  // ends as the first such bin
  CodeSearch s{};
  s.first = threshold[127];
  s.last_code = lut[kBlockwise8bitBins - 1];
  auto level = [&](uint16_t* table, int step) {
    for (int j = 0; j * 2 * step < 256; ++j) table[j] = threshold[j * 2 * step + step - 1];
  };
  level(s.step64, 64);
  level(s.step32, 32);
  level(s.step16, 16);
  level(s.step8, 8);
  level(s.step4, 4);
  level(s.step2, 2);
  level(s.step1, 1);
  return s;
}

// Built once per thread and code: the reference rebuilds its table every call, which is most of the cost
// of double-quantizing a small tensor's scales.
const CodeSearch& code_search_for(const float* code) {
  thread_local std::array<float, 256> built_for{};
  thread_local bool built = false;
  thread_local CodeSearch search;
  if (!built || std::memcmp(built_for.data(), code, sizeof(built_for)) != 0) {
    std::memcpy(built_for.data(), code, sizeof(built_for));
    search = make_code_search(code);
    built = true;
  }
  return search;
}

// The search tables in registers for a whole call (12 zmm).
struct CodeSearchRegs {
  __m512i first, last_code, step64, step32, step16, step8, step4, step2[2], step1[4];
  explicit CodeSearchRegs(const CodeSearch& s) {
    first = _mm512_set1_epi16(static_cast<short>(s.first));
    last_code = _mm512_set1_epi16(s.last_code);
    step64 = _mm512_load_si512(s.step64);
    step32 = _mm512_load_si512(s.step32);
    step16 = _mm512_load_si512(s.step16);
    step8 = _mm512_load_si512(s.step8);
    step4 = _mm512_load_si512(s.step4);
    for (int i = 0; i < 2; ++i) step2[i] = _mm512_load_si512(s.step2 + 32 * i);
    for (int i = 0; i < 4; ++i) step1[i] = _mm512_load_si512(s.step1 + 32 * i);
  }
};

constexpr __mmask32 kAll32 = 0xFFFFFFFF;

// Bins of 16 values already multiplied by 1 / absmax, the reference's exact fp32 steps.
inline __m512i bins_of(__m512 scaled) {
  using simd::kAll;
  // The clamp as the reference's std::min(std::max(v, -1), 1): vmaxps / vminps with the constant first compute
  // (-1 > v) ? -1 : v and (1 < v) ? 1 : v, which let a NaN through unchanged just as std::max / std::min do.
  const __m512 clamped = _mm512_maskz_min_ps(kAll, _mm512_set1_ps(1.0f),
                                             _mm512_maskz_max_ps(kAll, _mm512_set1_ps(-1.0f), scaled));
  const __m512 half = simd::rounded(_mm512_mul_ps(_mm512_add_ps(clamped, _mm512_set1_ps(1.0f)), _mm512_set1_ps(0.5f)));
  const __m512 bin = _mm512_add_ps(simd::rounded(_mm512_mul_ps(half, _mm512_set1_ps(kBlockwise8bitBins - 1))),
                                   _mm512_set1_ps(0.5f));
  // Bins lie in [0.5, 65535.5], so truncation gives 0..65535; NaN converts to 0x80000000, whose low 16 bits
  // (all that is kept) are bin 0, the reference's rule for NaN.
  return _mm512_maskz_cvttps_epi32(kAll, bin);
}

// Codes of 32 values (two vectors of 16, already multiplied by 1 / absmax), in element order.
inline __m256i codes_of(__m512 scaled_lo, __m512 scaled_hi, const CodeSearchRegs& s) {
  const __m512i bin = _mm512_maskz_inserti64x4(
      simd::kAll8, _mm512_castsi256_si512(_mm512_maskz_cvtepi32_epi16(simd::kAll, bins_of(scaled_lo))),
      _mm512_maskz_cvtepi32_epi16(simd::kAll, bins_of(scaled_hi)), 1);
  __m512i pos = _mm512_setzero_si512();
  auto probe = [&](__m512i threshold, int step) {
    pos = _mm512_mask_add_epi16(pos, _mm512_cmp_epu16_mask(threshold, bin, _MM_CMPINT_LE), pos,
                                _mm512_set1_epi16(static_cast<short>(step)));
  };
  auto j = [&](int shift) { return _mm512_maskz_srli_epi16(kAll32, pos, shift); };
  probe(s.first, 128);
  probe(_mm512_maskz_permutexvar_epi16(kAll32, j(7), s.step64), 64);
  probe(_mm512_maskz_permutexvar_epi16(kAll32, j(6), s.step32), 32);
  probe(_mm512_maskz_permutexvar_epi16(kAll32, j(5), s.step16), 16);
  probe(_mm512_maskz_permutexvar_epi16(kAll32, j(4), s.step8), 8);
  probe(_mm512_maskz_permutexvar_epi16(kAll32, j(3), s.step4), 4);
  probe(_mm512_maskz_permutex2var_epi16(kAll32, s.step2[0], j(2), s.step2[1]), 2);
  const __m512i j1 = j(1);  // 0..127: vpermi2w reads bits 0-5, bit 6 picks the half
  probe(_mm512_mask_blend_epi16(_mm512_test_epi16_mask(j1, _mm512_set1_epi16(64)),
                                _mm512_maskz_permutex2var_epi16(kAll32, s.step1[0], j1, s.step1[1]),
                                _mm512_maskz_permutex2var_epi16(kAll32, s.step1[2], j1, s.step1[3])),
        1);
  return _mm512_maskz_cvtepi16_epi8(kAll32, _mm512_min_epu16(pos, s.last_code));
}

inline __m512 gather_code(__m512i idx, const float* code) {
  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), simd::kAll, idx, code, 4);
}

}  // namespace

void quantize_blockwise_8bit(const float* x, int64_t n, int64_t blocksize, const float* code, uint8_t* q,
                             float* absmax) {
  if (blocksize <= 0) {
    quantize_blockwise_8bit_ref(x, n, blocksize, code, q, absmax);  // throws the reference's error
    return;
  }
  const CodeSearchRegs search(code_search_for(code));
  const int64_t nb = num_blocks(n, blocksize);
  for (int64_t blk = 0; blk < nb; ++blk) {
    const int64_t lo = blk * blocksize, len = std::min(blocksize, n - lo);
    const float* xb = x + lo;
    uint8_t* qb = q + lo;
    const float am = simd::block_absmax(xb, len);
    absmax[blk] = am;
    if (am == 0.0f) {
      std::memset(qb, 0, static_cast<size_t>(len));
      continue;
    }
    const __m512 inv = _mm512_set1_ps(1.0f / am);
    auto scaled = [&](int64_t i, int64_t count) {  // lanes past `count` load as 0.0 and are not stored
      return _mm512_mul_ps(_mm512_maskz_loadu_ps(simd::first_lanes(count), xb + i), inv);
    };
    int64_t i = 0;
    for (; i + 32 <= len; i += 32)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(qb + i),
                          codes_of(_mm512_mul_ps(_mm512_loadu_ps(xb + i), inv),
                                   _mm512_mul_ps(_mm512_loadu_ps(xb + i + 16), inv), search));
    if (i < len) {
      const int64_t rest = len - i;
      const __mmask32 lanes = rest >= 32 ? kAll32 : static_cast<__mmask32>((uint64_t{1} << rest) - 1);
      _mm256_mask_storeu_epi8(qb + i, lanes, codes_of(scaled(i, rest), scaled(i + 16, rest - 16), search));
    }
  }
}

void dequantize_blockwise_8bit(const uint8_t* q, const float* absmax, int64_t n, int64_t blocksize, const float* code,
                               float* out) {
  if (blocksize <= 0) {
    dequantize_blockwise_8bit_ref(q, absmax, n, blocksize, code, out);  // throws the reference's error
    return;
  }
  const int64_t nb = num_blocks(n, blocksize);
  for (int64_t blk = 0; blk < nb; ++blk) {
    const int64_t lo = blk * blocksize, len = std::min(blocksize, n - lo);
    const __m512 scale = _mm512_set1_ps(absmax[blk]);
    int64_t i = 0;
    for (; i + simd::kLanes <= len; i += simd::kLanes) {
      const __m512i idx =
          _mm512_maskz_cvtepu8_epi32(simd::kAll, _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + lo + i)));
      _mm512_storeu_ps(out + lo + i, _mm512_mul_ps(gather_code(idx, code), scale));
    }
    if (i < len) {
      const __mmask16 lanes = simd::first_lanes(len - i);
      const __m512i idx = _mm512_maskz_cvtepu8_epi32(simd::kAll, _mm_maskz_loadu_epi8(lanes, q + lo + i));
      _mm512_mask_storeu_ps(out + lo + i, lanes, _mm512_mul_ps(gather_code(idx, code), scale));
    }
  }
}

#else

void quantize_blockwise_8bit(const float* x, int64_t n, int64_t blocksize, const float* code, uint8_t* q,
                             float* absmax) {
  quantize_blockwise_8bit_ref(x, n, blocksize, code, q, absmax);
}

void dequantize_blockwise_8bit(const uint8_t* q, const float* absmax, int64_t n, int64_t blocksize, const float* code,
                               float* out) {
  dequantize_blockwise_8bit_ref(q, absmax, n, blocksize, code, out);
}

#endif

}  // namespace frugal
