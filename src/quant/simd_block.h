// AVX-512 helpers shared by the blockwise codecs' SIMD paths (only included under __AVX512F__).
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace frugal::simd {

constexpr int64_t kLanes = 16;  // fp32 / int32 lanes in a zmm register

// The maskz_ forms with an all-ones mask are the plain instructions; GCC 12 warns (-Wmaybe-uninitialized,
// a false positive) on the unmasked intrinsics, which start from _mm512_undefined_*().
constexpr __mmask16 kAll = 0xFFFF;
constexpr __mmask8 kAll8 = 0xFF;

// The first `count` lanes (none if count <= 0): loads of a block's last partial vector read nothing past it.
inline __mmask16 first_lanes(int64_t count) {
  if (count <= 0) return 0;
  return count >= kLanes ? kAll : static_cast<__mmask16>((1u << count) - 1u);
}

// max |x| over x[0, len), NaN ignored, as the references' `am = std::max(am, |x|)` starting from 0: vmaxps
// returns its second operand when either is NaN, so the running maximum goes second and a NaN never enters.
// Every lane then holds a non-NaN value >= +0, so the order of the final reduction cannot change the result.
inline float block_absmax(const float* x, int64_t len) {
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + kLanes <= len; i += kLanes) acc = _mm512_maskz_max_ps(kAll, _mm512_abs_ps(_mm512_loadu_ps(x + i)), acc);
  if (i < len)
    acc = _mm512_maskz_max_ps(kAll, _mm512_abs_ps(_mm512_maskz_loadu_ps(first_lanes(len - i), x + i)), acc);
  acc = _mm512_maskz_max_ps(kAll, acc, _mm512_maskz_shuffle_f32x4(kAll, acc, acc, 0x4E));  // 256-bit halves
  acc = _mm512_maskz_max_ps(kAll, acc, _mm512_maskz_shuffle_f32x4(kAll, acc, acc, 0xB1));  // 128-bit quarters
  acc = _mm512_maskz_max_ps(kAll, acc, _mm512_maskz_permute_ps(kAll, acc, 0x4E));          // pairs in a quarter
  acc = _mm512_maskz_max_ps(kAll, acc, _mm512_maskz_permute_ps(kAll, acc, 0xB1));          // neighbours
  return _mm512_cvtss_f32(acc);
}

// Sum of the 16 lanes (in a fixed order: halves, quarters, pairs, neighbours).
inline float hsum(__m512 v) {
  v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(kAll, v, v, 0x4E));
  v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(kAll, v, v, 0xB1));
  v = _mm512_add_ps(v, _mm512_maskz_permute_ps(kAll, v, 0x4E));
  v = _mm512_add_ps(v, _mm512_maskz_permute_ps(kAll, v, 0xB1));
  return _mm512_cvtss_f32(v);
}

// Forces `v` to be materialised as rounded fp32 values, so GCC cannot contract a following add into an FMA
// (intrinsics are plain vector arithmetic to it, and -ffp-contract=fast is its default in GNU mode).
inline __m512 rounded(__m512 v) {
  asm volatile("" : "+v"(v));
  return v;
}

}  // namespace frugal::simd
