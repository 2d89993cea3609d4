#include "kernels/half_matvec.h"

#include <algorithm>

#include "core/half.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define FRUGAL_HALF_MATVEC_AVX512 1
#include "quant/simd_block.h"
#endif

namespace frugal {

namespace {

float half_value(const HalfRows& w, int64_t i) {
  return w.bf16 ? bf16_to_float(w.values[i]) : fp16_to_float(w.values[i]);
}

#if FRUGAL_HALF_MATVEC_AVX512
// 16 stored values -> fp32 lanes; `mask` selects the lanes a row's tail has.
template <bool kBf16>
inline __m512 load_weights(const uint16_t* p, __mmask16 mask) {
  const __m256i h = _mm256_maskz_loadu_epi16(mask, p);
  if constexpr (kBf16)  // bf16 is the top half of an fp32
    return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(simd::kAll, _mm512_maskz_cvtepu16_epi32(simd::kAll, h), 16));
  else
    return _mm512_maskz_cvtph_ps(simd::kAll, h);
}

// Rows this many blocks ahead are prefetched while a block is multiplied. R rows read side by side
// are R short streams, each too short for the hardware prefetcher to pick up before it ends:
// without this a large matrix streamed from memory at under a fifth of the bandwidth one
// sequential read reaches (4-5 vs 24 GB/s on one core here; 2 blocks ahead measured best).
constexpr int64_t kPrefetchBlocks = 2;

// Rows [r, r + R) for every activation row: the R weight rows stay in L1 between activation rows.
template <bool kBf16, int R>
inline void row_block(float* y, const float* x, int64_t M, const HalfRows& w, int64_t r) {
  const int64_t K = w.cols, N = w.rows;
  const uint16_t* ahead[R];
  for (int i = 0; i < R; ++i) ahead[i] = w.values + std::min(r + kPrefetchBlocks * R + i, N - 1) * K;
  for (int64_t m = 0; m < M; ++m) {
    const float* xm = x + m * K;
    __m512 acc[R];
    for (int i = 0; i < R; ++i) acc[i] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k += simd::kLanes) {
      const __mmask16 mask = simd::first_lanes(K - k);
      const __m512 xv = _mm512_maskz_loadu_ps(mask, xm + k);
      for (int i = 0; i < R; ++i) {
        if (m == 0) _mm_prefetch(reinterpret_cast<const char*>(ahead[i] + k), _MM_HINT_T0);
        acc[i] = _mm512_fmadd_ps(load_weights<kBf16>(w.values + (r + i) * K + k, mask), xv, acc[i]);
      }
    }
    for (int i = 0; i < R; ++i) y[m * N + r + i] = simd::hsum(acc[i]);
  }
}

template <bool kBf16>
void matvec_avx512(float* y, const float* x, int64_t M, const HalfRows& w) {
  constexpr int R = 4;
  const int64_t blocks = w.rows / R;
#pragma omp parallel for schedule(dynamic, 8) if (w.rows * w.cols > 32768)
  for (int64_t b = 0; b < blocks; ++b) row_block<kBf16, R>(y, x, M, w, b * R);
  for (int64_t r = blocks * R; r < w.rows; ++r) row_block<kBf16, 1>(y, x, M, w, r);
}
#endif

}  // namespace

void half_matvec_ref(float* y, const float* x, int64_t M, const HalfRows& w) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < w.rows; ++n) {
      float acc = 0;
      for (int64_t k = 0; k < w.cols; ++k) acc += half_value(w, n * w.cols + k) * x[m * w.cols + k];
      y[m * w.rows + n] = acc;
    }
}

void half_matvec(float* y, const float* x, int64_t M, const HalfRows& w) {
#if FRUGAL_HALF_MATVEC_AVX512
  if (w.bf16)
    matvec_avx512<true>(y, x, M, w);
  else
    matvec_avx512<false>(y, x, M, w);
#else
  half_matvec_ref(y, x, M, w);
#endif
}

const char* half_matvec_isa() {
#if FRUGAL_HALF_MATVEC_AVX512
  return "avx512";
#else
  return "scalar";
#endif
}

}  // namespace frugal
