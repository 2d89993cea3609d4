// The 64 codes of one chunk of an IntDotMatrix row as 64 unsigned bytes in a zmm register, value e
// in byte e: the one unpacking of the layout, used by the decode product (kernels/int_dot.cpp) and
// the fast dequantizer (int_dot_matrix_fast.cpp). Only included under AVX-512 BW.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "quant/int_dot_matrix.h"

namespace frugal::simd {

template <CodePlane P>
inline __m512i int_dot_chunk_codes(const uint8_t* p) {
  if constexpr (P == CodePlane::Byte) {
    return _mm512_loadu_si512(p);
  } else {
    const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    const __m256i lo = _mm256_and_si256(packed, low_mask);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_mask);
    // The maskz_ form with an all-ones mask is the plain instruction (GCC 12 warns on the unmasked one).
    __m512i u = _mm512_maskz_inserti64x4(0xFF, _mm512_castsi256_si512(lo), hi, 1);
    if constexpr (P == CodePlane::Nibble5) {
      uint64_t high;
      std::memcpy(&high, p + 32, 8);
      u = _mm512_mask_add_epi8(u, _cvtu64_mask64(high), u, _mm512_set1_epi8(16));
    }
    return u;
  }
}

inline __m512i int_dot_chunk_codes(CodePlane plane, const uint8_t* p) {
  switch (plane) {
    case CodePlane::Nibble: return int_dot_chunk_codes<CodePlane::Nibble>(p);
    case CodePlane::Nibble5: return int_dot_chunk_codes<CodePlane::Nibble5>(p);
    case CodePlane::Byte: break;
  }
  return int_dot_chunk_codes<CodePlane::Byte>(p);
}

}  // namespace frugal::simd
