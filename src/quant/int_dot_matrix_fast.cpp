// IntDotMatrix::dequantize_row with AVX-512: a chunk's 64 codes become four vectors of 16 floats
// with the reference's operations ((u - zero) * scale, or scale * u + offset, exact for every type
// that has offsets), so the result is bit for bit the reference's. Prompt processing and
// perplexity dequantize the repacked weights band by band before their products; this keeps that
// from costing more than the products.
#include <cstring>

#include "quant/int_dot_matrix.h"

#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>

#include "quant/int_dot_chunk.h"
#endif

namespace frugal {

#if defined(__AVX512F__) && defined(__AVX512BW__)

namespace {

constexpr __mmask16 kAll = 0xFFFF;

}  // namespace

void IntDotMatrix::dequantize_row(int64_t r, float* out) const {
  const float* s = &scale[r * groups()];
  const float* o = symmetric() ? nullptr : &offset[r * groups()];
  const uint8_t* p = row_codes(r);
  alignas(64) uint8_t u[64];
  alignas(64) float tail[64];
  const __m512i zero_point = _mm512_set1_epi32(zero);
  for (int64_t c = 0; c < chunks(); ++c, p += chunk_bytes()) {
    _mm512_store_si512(u, simd::int_dot_chunk_codes(plane, p));
    const int64_t base = c * 64;
    float* dst = base + 64 <= cols ? out + base : tail;  // a padded last chunk goes through scratch
    for (int q = 0; q < 4; ++q) {
      const int64_t g = (base + 16 * q) / group;
      const __m512i code = _mm512_maskz_cvtepu8_epi32(kAll, _mm_loadu_si128(reinterpret_cast<const __m128i*>(u + 16 * q)));
      const __m512 sc = _mm512_set1_ps(s[g]);
      __m512 v;
      if (o) v = _mm512_add_ps(_mm512_mul_ps(sc, _mm512_maskz_cvtepi32_ps(kAll, code)), _mm512_set1_ps(o[g]));
      else v = _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(kAll, _mm512_sub_epi32(code, zero_point)), sc);
      _mm512_storeu_ps(dst + 16 * q, v);
    }
    if (dst == tail) std::memcpy(out + base, tail, sizeof(float) * static_cast<size_t>(cols - base));
  }
}

#else

void IntDotMatrix::dequantize_row(int64_t r, float* out) const { dequantize_row_ref(r, out); }

#endif

}  // namespace frugal
