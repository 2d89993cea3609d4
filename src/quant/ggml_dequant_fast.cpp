// SIMD decoders. Each kernel turns 16 quants into 16 floats with the same scalar operations as the
// reference (int -> float, times the block scale, then +/- the block offset), so results are
// bit-identical; only the number of elements per instruction changes. The ISA is chosen at compile
// time (the library is built for the machine or for a stated -march); without AVX2 we use the reference.
#include <immintrin.h>

#include "core/half.h"
#include "quant/ggml_blocks.h"
#include "quant/ggml_types.h"

namespace frugal {

#if defined(__AVX2__) && defined(__F16C__)

namespace {

using namespace ggml_block;

// ---- 16 floats: one zmm register with AVX-512, two ymm registers with AVX2 ----
#if defined(__AVX512F__)
constexpr const char* kIsa = "avx512";
// The maskz_ forms with an all-ones mask are the plain instructions; GCC 12 warns (-Wmaybe-uninitialized,
// a false positive) on the unmasked intrinsics, which start from _mm512_undefined_*().
constexpr __mmask16 kAll = 0xFFFF;
struct F32x16 {
  __m512 v;
};
inline F32x16 from_i8(__m128i b) {
  return {_mm512_maskz_cvtepi32_ps(kAll, _mm512_maskz_cvtepi8_epi32(kAll, b))};
}
inline F32x16 from_u8(__m128i b) {
  return {_mm512_maskz_cvtepi32_ps(kAll, _mm512_maskz_cvtepu8_epi32(kAll, b))};
}
inline F32x16 mul(F32x16 a, float s) {
  return {_mm512_mul_ps(a.v, _mm512_set1_ps(s))};
}
inline F32x16 add(F32x16 a, float s) {
  return {_mm512_add_ps(a.v, _mm512_set1_ps(s))};
}
inline F32x16 sub(F32x16 a, float s) {
  return {_mm512_sub_ps(a.v, _mm512_set1_ps(s))};
}
inline void store(float* y, F32x16 a) {
  _mm512_storeu_ps(y, a.v);
}
inline void f16x16(const uint8_t* x, float* y) {
  _mm512_storeu_ps(y, _mm512_maskz_cvtph_ps(kAll, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x))));
}
inline void bf16x16(const uint8_t* x, float* y) {
  const __m512i h = _mm512_maskz_cvtepu16_epi32(kAll, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));
  _mm512_storeu_ps(y, _mm512_castsi512_ps(_mm512_maskz_slli_epi32(kAll, h, 16)));
}
#else
constexpr const char* kIsa = "avx2";
struct F32x16 {
  __m256 lo, hi;
};
inline F32x16 from_i8(__m128i b) {
  return {_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(b, 8)))};
}
inline F32x16 from_u8(__m128i b) {
  return {_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8)))};
}
inline F32x16 mul(F32x16 a, float s) {
  const __m256 v = _mm256_set1_ps(s);
  return {_mm256_mul_ps(a.lo, v), _mm256_mul_ps(a.hi, v)};
}
inline F32x16 add(F32x16 a, float s) {
  const __m256 v = _mm256_set1_ps(s);
  return {_mm256_add_ps(a.lo, v), _mm256_add_ps(a.hi, v)};
}
inline F32x16 sub(F32x16 a, float s) {
  const __m256 v = _mm256_set1_ps(s);
  return {_mm256_sub_ps(a.lo, v), _mm256_sub_ps(a.hi, v)};
}
inline void store(float* y, F32x16 a) {
  _mm256_storeu_ps(y, a.lo);
  _mm256_storeu_ps(y + 8, a.hi);
}
inline void f16x16(const uint8_t* x, float* y) {
  _mm256_storeu_ps(y, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x))));
  _mm256_storeu_ps(y + 8, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 16))));
}
inline void bf16x16(const uint8_t* x, float* y) {
  for (int k = 0; k < 2; ++k) {
    const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 16 * k)));
    _mm256_storeu_ps(y + 8 * k, _mm256_castsi256_ps(_mm256_slli_epi32(h, 16)));
  }
}
#endif

// ---- byte helpers (SSE, shared by both widths) ----
inline __m128i load16(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
inline __m128i bytes(int v) {
  return _mm_set1_epi8(static_cast<char>(v));
}
inline __m128i low_nibbles(__m128i b) {
  return _mm_and_si128(b, bytes(0x0F));
}
// 16-bit shifts move bits across byte boundaries; the mask drops exactly those bits.
inline __m128i high_nibbles(__m128i b) {
  return _mm_and_si128(_mm_srli_epi16(b, 4), bytes(0x0F));
}

// Byte j = 0x10 if bit j of `bits` (16 bits) is set, else 0: the 5th bit of Q5_0 / Q5_1 quants.
inline __m128i bit_to_0x10(uint32_t bits) {
  const __m128i pair = _mm_set1_epi16(static_cast<short>(bits & 0xFFFF));
  const __m128i spread = _mm_shuffle_epi8(pair, _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
  const __m128i mask = _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  return _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(spread, mask), mask), bytes(0x10));
}

// Byte j = 0x10 if byte j of `qh` has bit `bit` set: the 5th bit of Q5_K quants.
inline __m128i qh_bit_to_0x10(__m128i qh, int bit) {
  const __m128i m = bytes(1 << bit);
  return _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(qh, m), m), bytes(0x10));
}

// ---- kernels; nb = number of blocks ----
void f16_fast(const uint8_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) f16x16(x + 2 * i, y + i);
  for (; i < n; ++i) y[i] = fp16_to_float(load_u16(x + 2 * i));
}

void bf16_fast(const uint8_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) bf16x16(x + 2 * i, y + i);
  for (; i < n; ++i) y[i] = bf16_to_float(load_u16(x + 2 * i));
}

void q8_0_fast(const uint8_t* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += Q8_0::kBytes, y += kQK) {
    const float d = load_fp16(x + Q8_0::kD);
    store(y, mul(from_i8(load16(x + Q8_0::kQs)), d));
    store(y + 16, mul(from_i8(load16(x + Q8_0::kQs + 16)), d));
  }
}

void q4_0_fast(const uint8_t* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += Q4_0::kBytes, y += kQK) {
    const float d = load_fp16(x + Q4_0::kD);
    const __m128i q = load16(x + Q4_0::kQs);
    store(y, mul(from_i8(_mm_sub_epi8(low_nibbles(q), bytes(8))), d));
    store(y + 16, mul(from_i8(_mm_sub_epi8(high_nibbles(q), bytes(8))), d));
  }
}

void q4_1_fast(const uint8_t* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += Q4_1::kBytes, y += kQK) {
    const float d = load_fp16(x + Q4_1::kD);
    const float m = load_fp16(x + Q4_1::kM);
    const __m128i q = load16(x + Q4_1::kQs);
    store(y, add(mul(from_u8(low_nibbles(q)), d), m));
    store(y + 16, add(mul(from_u8(high_nibbles(q)), d), m));
  }
}

void q5_0_fast(const uint8_t* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += Q5_0::kBytes, y += kQK) {
    const float d = load_fp16(x + Q5_0::kD);
    const uint32_t qh = load_u32(x + Q5_0::kQh);
    const __m128i q = load16(x + Q5_0::kQs);
    const __m128i q0 = _mm_or_si128(low_nibbles(q), bit_to_0x10(qh));
    const __m128i q1 = _mm_or_si128(high_nibbles(q), bit_to_0x10(qh >> 16));
    store(y, mul(from_i8(_mm_sub_epi8(q0, bytes(16))), d));
    store(y + 16, mul(from_i8(_mm_sub_epi8(q1, bytes(16))), d));
  }
}

void q5_1_fast(const uint8_t* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += Q5_1::kBytes, y += kQK) {
    const float d = load_fp16(x + Q5_1::kD);
    const float m = load_fp16(x + Q5_1::kM);
    const uint32_t qh = load_u32(x + Q5_1::kQh);
    const __m128i q = load16(x + Q5_1::kQs);
    store(y, add(mul(from_u8(_mm_or_si128(low_nibbles(q), bit_to_0x10(qh))), d), m));
    store(y + 16, add(mul(from_u8(_mm_or_si128(high_nibbles(q), bit_to_0x10(qh >> 16))), d), m));
  }
}

void q4_k_fast(const uint8_t* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += Q4_K::kBytes) {
    const float d = load_fp16(x + Q4_K::kD);
    const float dmin = load_fp16(x + Q4_K::kDmin);
    const uint8_t* q = x + Q4_K::kQs;
    for (int is = 0; is < 8; is += 2, q += 32, y += 64) {
      uint8_t sc, m;
      scale_min_k4(is, x + Q4_K::kScales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      scale_min_k4(is + 1, x + Q4_K::kScales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int g = 0; g < 32; g += 16) {
        const __m128i b = load16(q + g);
        store(y + g, sub(mul(from_u8(low_nibbles(b)), d1), m1));
        store(y + 32 + g, sub(mul(from_u8(high_nibbles(b)), d2), m2));
      }
    }
  }
}

void q5_k_fast(const uint8_t* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += Q5_K::kBytes) {
    const float d = load_fp16(x + Q5_K::kD);
    const float dmin = load_fp16(x + Q5_K::kDmin);
    const uint8_t* q = x + Q5_K::kQs;
    const __m128i qh[2] = {load16(x + Q5_K::kQh), load16(x + Q5_K::kQh + 16)};
    for (int is = 0; is < 8; is += 2, q += 32, y += 64) {
      uint8_t sc, m;
      scale_min_k4(is, x + Q5_K::kScales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      scale_min_k4(is + 1, x + Q5_K::kScales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int g = 0; g < 2; ++g) {
        const __m128i b = load16(q + 16 * g);
        const __m128i lo = _mm_or_si128(low_nibbles(b), qh_bit_to_0x10(qh[g], is));
        const __m128i hi = _mm_or_si128(high_nibbles(b), qh_bit_to_0x10(qh[g], is + 1));
        store(y + 16 * g, sub(mul(from_u8(lo), d1), m1));
        store(y + 32 + 16 * g, sub(mul(from_u8(hi), d2), m2));
      }
    }
  }
}

void q6_k_fast(const uint8_t* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += Q6_K::kBytes) {
    const float d = load_fp16(x + Q6_K::kD);
    const uint8_t* ql = x + Q6_K::kQl;
    const uint8_t* qh = x + Q6_K::kQh;
    const int8_t* sc = reinterpret_cast<const int8_t*>(x + Q6_K::kScales);
    for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int g = 0; g < 2; ++g) {  // l = 16g .. 16g+15 share scale index g
        const __m128i a = load16(ql + 16 * g);
        const __m128i b = load16(ql + 32 + 16 * g);
        const __m128i h = load16(qh + 16 * g);
        // Bits 2k..2k+1 of qh become bits 4..5 of quant k.
        const __m128i h0 = _mm_and_si128(_mm_slli_epi16(h, 4), bytes(0x30));
        const __m128i h1 = _mm_and_si128(_mm_slli_epi16(h, 2), bytes(0x30));
        const __m128i h2 = _mm_and_si128(h, bytes(0x30));
        const __m128i h3 = _mm_and_si128(_mm_srli_epi16(h, 2), bytes(0x30));
        const __m128i q1 = _mm_sub_epi8(_mm_or_si128(low_nibbles(a), h0), bytes(32));
        const __m128i q2 = _mm_sub_epi8(_mm_or_si128(low_nibbles(b), h1), bytes(32));
        const __m128i q3 = _mm_sub_epi8(_mm_or_si128(high_nibbles(a), h2), bytes(32));
        const __m128i q4 = _mm_sub_epi8(_mm_or_si128(high_nibbles(b), h3), bytes(32));
        // The reference computes (d * sc) * q; the scalar product is formed first here too.
        store(y + 16 * g + 0, mul(from_i8(q1), d * sc[g + 0]));
        store(y + 16 * g + 32, mul(from_i8(q2), d * sc[g + 2]));
        store(y + 16 * g + 64, mul(from_i8(q3), d * sc[g + 4]));
        store(y + 16 * g + 96, mul(from_i8(q4), d * sc[g + 6]));
      }
    }
  }
}

}  // namespace

const char* ggml_dequant_isa() {
  return kIsa;
}

void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n) {
  const uint8_t* x = static_cast<const uint8_t*>(src);
  const int64_t nb = n / ggml_block_elems(type);
  (void)ggml_row_bytes(type, n);  // throws unless n is a whole number of blocks
  switch (type) {
    case GgmlType::F16:
      return f16_fast(x, dst, n);
    case GgmlType::BF16:
      return bf16_fast(x, dst, n);
    case GgmlType::Q8_0:
      return q8_0_fast(x, dst, nb);
    case GgmlType::Q4_0:
      return q4_0_fast(x, dst, nb);
    case GgmlType::Q4_1:
      return q4_1_fast(x, dst, nb);
    case GgmlType::Q5_0:
      return q5_0_fast(x, dst, nb);
    case GgmlType::Q5_1:
      return q5_1_fast(x, dst, nb);
    case GgmlType::Q4_K:
      return q4_k_fast(x, dst, nb);
    case GgmlType::Q5_K:
      return q5_k_fast(x, dst, nb);
    case GgmlType::Q6_K:
      return q6_k_fast(x, dst, nb);
    default:
      return dequantize_row_ref(type, src, dst, n);
  }
}

#else  // no AVX2: the reference is the fast path

const char* ggml_dequant_isa() {
  return "scalar";
}

void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n) {
  dequantize_row_ref(type, src, dst, n);
}

#endif

}  // namespace frugal
