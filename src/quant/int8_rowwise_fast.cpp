// SIMD int8 rows (AVX-512): 16 values per step, the row's tail under a lane mask. Each lane does the
// reference's own fp32 operations in the same order (float16 round trip with round-to-nearest-even,
// one product by the row's scale, conversion with round-half-even; or two products for
// dequantization), so results are bit-identical to the scalar reference.
#include <immintrin.h>

#include "quant/int8_rowwise.h"

namespace frugal {

#if defined(__AVX512F__)

namespace {

constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
// GCC 12 warns about the undefined passthrough operand of the unmasked forms of some intrinsics, so
// their zero-masked forms are used with every lane set.
constexpr __mmask16 kAll = 0xFFFF;

__mmask16 lanes(int64_t remaining) {
  return remaining >= 16 ? kAll : static_cast<__mmask16>((1u << remaining) - 1);
}

__m512 through_float16(__m512 x) { return _mm512_maskz_cvtph_ps(kAll, _mm512_maskz_cvt_roundps_ph(kAll, x, kRound)); }

__m512 widen(__m128i codes) { return _mm512_maskz_cvtepi32_ps(kAll, _mm512_maskz_cvtepi8_epi32(kAll, codes)); }

}  // namespace

const char* int8_rowwise_isa() { return "avx512"; }

float quantize_row_int8(const float* x, int64_t n, int8_t* codes) {
  // The absmax as the largest bit pattern of |h|: integer max orders non-negative floats and lets an
  // inf or NaN (patterns >= 0x7F800000) through, where a float max could drop a NaN.
  const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF);
  __m512i top = _mm512_setzero_si512();
  for (int64_t c = 0; c < n; c += 16) {
    const __m512 h = through_float16(_mm512_maskz_loadu_ps(lanes(n - c), x + c));
    top = _mm512_maskz_max_epu32(kAll, top, _mm512_and_si512(_mm512_castps_si512(h), magnitude));
  }
  alignas(64) uint32_t lane_top[16];
  _mm512_store_si512(lane_top, top);
  uint32_t top_bits = 0;
  for (uint32_t b : lane_top) top_bits = b > top_bits ? b : top_bits;
  float absmax;
  __builtin_memcpy(&absmax, &top_bits, sizeof absmax);
  if (top_bits >= 0x7F800000u) return absmax;  // inf or NaN: refused by the caller
  if (absmax == 0.0f) {
    __builtin_memset(codes, 0, static_cast<size_t>(n));
    return absmax;
  }
  const __m512 scale = _mm512_set1_ps((1.0f / absmax) * 127.0f);
  for (int64_t c = 0; c < n; c += 16) {
    const __mmask16 m = lanes(n - c);
    const __m512 h = through_float16(_mm512_maskz_loadu_ps(m, x + c));
    const __m512i q = _mm512_maskz_cvt_roundps_epi32(kAll, _mm512_mul_ps(h, scale), kRound);
    _mm512_mask_cvtsepi32_storeu_epi8(codes + c, m, q);
  }
  return absmax;
}

void dequantize_row_int8(const int8_t* codes, float absmax, int64_t n, float* out) {
  const __m512 a = _mm512_set1_ps(absmax), inv = _mm512_set1_ps(kInt8Inv127);
  int64_t c = 0;
  for (; c + 16 <= n; c += 16) {
    const __m512 q = widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + c)));
    _mm512_storeu_ps(out + c, _mm512_mul_ps(_mm512_mul_ps(q, a), inv));
  }
  if (c < n) {
    const __mmask16 m = lanes(n - c);
    alignas(16) int8_t tail[16] = {};  // a byte-masked load would need AVX512BW
    __builtin_memcpy(tail, codes + c, static_cast<size_t>(n - c));
    const __m512 q = widen(_mm_load_si128(reinterpret_cast<const __m128i*>(tail)));
    _mm512_mask_storeu_ps(out + c, m, _mm512_mul_ps(_mm512_mul_ps(q, a), inv));
  }
}

#else

const char* int8_rowwise_isa() { return "scalar"; }

float quantize_row_int8(const float* x, int64_t n, int8_t* codes) { return quantize_row_int8_ref(x, n, codes); }

void dequantize_row_int8(const int8_t* codes, float absmax, int64_t n, float* out) {
  dequantize_row_int8_ref(codes, absmax, n, out);
}

#endif

}  // namespace frugal
