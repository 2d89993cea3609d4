// SIMD 4-bit dequantization (NF4 and FP4). 16 packed bytes -> 32 values: the codebook sits in one zmm register
// and is looked up with vpermps, the high and low nibbles are interleaved back into element order, and each
// value is multiplied once by its block's absmax, the same single fp32 product as the reference, so results
// are bit-identical. Chunks of 32 never straddle a block when blocksize is a multiple of 32 (all sizes
// bitsandbytes allows); anything else, and the tail, goes through the reference.
#include <immintrin.h>

#include "quant/nf4.h"

namespace frugal {

#if defined(__AVX512F__)

const char* quant_codecs_isa() { return "avx512"; }
const char* dequantize_4bit_isa() { return quant_codecs_isa(); }

void dequantize_4bit(const uint8_t* packed, const float* absmax, int64_t n, int64_t blocksize, Quant4Type type,
                     float* out) {
  if (blocksize <= 0 || blocksize % 32 != 0) {
    dequantize_4bit_ref(packed, absmax, n, blocksize, type, out);
    return;
  }
  constexpr __mmask16 kAll = 0xFFFF;
  const __m512 table = _mm512_loadu_ps(quant4_codebook(type).data());
  const __m512i low_mask = _mm512_set1_epi32(0x0F);
  // Output j of the first half takes hi[j/2] (even j) or lo[j/2] (odd j); permutex2var index >= 16 picks lo.
  const __m512i first = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i second = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const int64_t chunks = n / 32;
  for (int64_t c = 0; c < chunks; ++c) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(packed + c * 16));
    const __m512i b32 = _mm512_maskz_cvtepu8_epi32(kAll, bytes);
    const __m512i hi = _mm512_maskz_srli_epi32(kAll, b32, 4);
    const __m512i lo = _mm512_maskz_and_epi32(kAll, b32, low_mask);
    const __m512 vhi = _mm512_maskz_permutexvar_ps(kAll, hi, table);
    const __m512 vlo = _mm512_maskz_permutexvar_ps(kAll, lo, table);
    const __m512 scale = _mm512_set1_ps(absmax[(c * 32) / blocksize]);
    _mm512_storeu_ps(out + c * 32, _mm512_mul_ps(_mm512_permutex2var_ps(vhi, first, vlo), scale));
    _mm512_storeu_ps(out + c * 32 + 16, _mm512_mul_ps(_mm512_permutex2var_ps(vhi, second, vlo), scale));
  }
  const auto& cb = quant4_codebook(type);
  for (int64_t i = chunks * 32; i < n; ++i) {  // tail: the reference formula
    const uint8_t byte = packed[i >> 1];
    out[i] = cb[(i & 1) ? (byte & 0x0F) : (byte >> 4)] * absmax[i / blocksize];
  }
}

#else

const char* quant_codecs_isa() { return "scalar"; }
const char* dequantize_4bit_isa() { return quant_codecs_isa(); }

void dequantize_4bit(const uint8_t* packed, const float* absmax, int64_t n, int64_t blocksize, Quant4Type type,
                     float* out) {
  dequantize_4bit_ref(packed, absmax, n, blocksize, type, out);
}

#endif

}  // namespace frugal
