#include "kernels/attention.h"

#include "core/half.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>

#include "quant/simd_block.h"
#endif

namespace frugal {

namespace {

// scores[s] = exp(scores[s] - max) over the visible keys; returns their sum. Both paths use it, so
// their softmax weights differ only through the scores.
inline float exp_scores(float* scores, int64_t first, int64_t n_keys, float max_score) {
  float sum = 0;
  for (int64_t s = first; s < n_keys; ++s) {
    scores[s] = std::exp(scores[s] - max_score);
    sum += scores[s];
  }
  return sum;
}

inline float cache_value(float v) { return v; }
inline float cache_value(uint16_t v) { return bf16_to_float(v); }

template <typename T>
void attention_ref(float* out, const float* q, const T* k_cache, const T* v_cache, const AttentionDims& d) {
  const int64_t group = d.H / d.KVH;
  const float scale = d.scale > 0 ? d.scale : 1.0f / std::sqrt(static_cast<float>(d.D));
#pragma omp parallel
  {
    std::vector<float> scores(static_cast<size_t>(d.past + d.T));
#pragma omp for collapse(2) schedule(dynamic, 4)
    for (int64_t t = 0; t < d.T; ++t)
      for (int64_t h = 0; h < d.H; ++h) {
        const float* qv = q + (t * d.H + h) * d.D;
        const int64_t kvh = h / group, n_keys = d.past + t + 1;
        const int64_t first = d.window > 0 ? std::max<int64_t>(0, n_keys - d.window) : 0;
        float max_score = -INFINITY;
        for (int64_t s = first; s < n_keys; ++s) {
          const T* kv = k_cache + s * d.kv_stride + kvh * d.D;
          float dot = 0;
          for (int64_t i = 0; i < d.D; ++i) dot += qv[i] * cache_value(kv[i]);
          scores[s] = dot * scale;
          max_score = std::max(max_score, scores[s]);
        }
        const float inv = 1.0f / exp_scores(scores.data(), first, n_keys, max_score);
        float* o = out + (t * d.H + h) * d.D;
        std::fill(o, o + d.D, 0.0f);
        for (int64_t s = first; s < n_keys; ++s) {
          const T* vv = v_cache + s * d.kv_stride + kvh * d.D;
          const float p = scores[s] * inv;
          for (int64_t i = 0; i < d.D; ++i) o[i] += p * cache_value(vv[i]);
        }
      }
  }
}

}  // namespace

void attention_forward_ref(float* out, const float* q, const float* k_cache, const float* v_cache, const AttentionDims& d) {
  attention_ref(out, q, k_cache, v_cache, d);
}
void attention_forward_ref(float* out, const float* q, const uint16_t* k_cache, const uint16_t* v_cache,
                           const AttentionDims& d) {
  attention_ref(out, q, k_cache, v_cache, d);
}

#if defined(__AVX512F__) && defined(__AVX512BW__)

namespace {

using simd::kAll;

// 16 cache values (the first `mask` lanes) as fp32: as they are, or bf16 widened.
inline __m512 load16(const float* p, __mmask16 mask) { return _mm512_maskz_loadu_ps(mask, p); }
inline __m512 load16(const uint16_t* p, __mmask16 mask) {
  const __m512i wide = _mm512_maskz_cvtepu16_epi32(mask, _mm256_maskz_loadu_epi16(mask, p));
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(kAll, wide, 16));
}

// One query head over its visible keys: scores (q.k * scale), softmax, then the weighted values.
// The same operations in the same order per key as the reference, except that each dot product
// and each output lane is summed in 16 lanes: results agree to fp32 rounding.
template <typename T>
void attend_one(float* o, const float* qv, const T* k, const T* v, int64_t first, int64_t n_keys,
                int64_t stride, int64_t D, float scale, float* scores) {
  const int64_t full = D / 16;
  const __mmask16 tail = simd::first_lanes(D - full * 16);
  float max_score = -INFINITY;
  for (int64_t s = first; s < n_keys; ++s) {
    const T* kv = k + s * stride;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < full; ++i) acc = _mm512_fmadd_ps(_mm512_loadu_ps(qv + 16 * i), load16(kv + 16 * i, kAll), acc);
    if (tail) acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, qv + 16 * full), load16(kv + 16 * full, tail), acc);
    scores[s] = simd::hsum(acc) * scale;
    max_score = std::max(max_score, scores[s]);
  }
  const float inv = 1.0f / exp_scores(scores, first, n_keys, max_score);
  // The output in registers, 64 lanes at a time (one pass over the values for head sizes up to 64).
  for (int64_t i0 = 0; i0 < D; i0 += 64) {
    __m512 acc[4];
    __mmask16 mask[4];
    for (int j = 0; j < 4; ++j) {
      acc[j] = _mm512_setzero_ps();
      mask[j] = simd::first_lanes(D - i0 - 16 * j);
    }
    for (int64_t s = first; s < n_keys; ++s) {
      const T* vv = v + s * stride + i0;
      const __m512 p = _mm512_set1_ps(scores[s] * inv);
      for (int j = 0; j < 4; ++j)
        if (mask[j]) acc[j] = _mm512_fmadd_ps(p, load16(vv + 16 * j, mask[j]), acc[j]);
    }
    for (int j = 0; j < 4; ++j)
      if (mask[j]) _mm512_mask_storeu_ps(o + i0 + 16 * j, mask[j], acc[j]);
  }
}

template <typename T>
void attention_fast(float* out, const float* q, const T* k_cache, const T* v_cache, const AttentionDims& d) {
  const int64_t group = d.H / d.KVH;
  const float scale = d.scale > 0 ? d.scale : 1.0f / std::sqrt(static_cast<float>(d.D));
  const int64_t units = d.T * d.H;
  // One decode step of a small model is a few microseconds per head: threads only pay off when
  // there is enough of it (long caches, several query tokens).
  const bool parallel = units > 1 && units * (d.past + d.T) * d.D > 32768;
#pragma omp parallel if (parallel)
  {
    thread_local std::vector<float> scores;  // each thread's own, kept between calls: no allocation per token
    if (scores.size() < static_cast<size_t>(d.past + d.T)) scores.resize(static_cast<size_t>(d.past + d.T));
#pragma omp for schedule(dynamic, 1)
    for (int64_t u = 0; u < units; ++u) {
      const int64_t t = u / d.H, h = u % d.H, kvh = h / group, n_keys = d.past + t + 1;
      const int64_t first = d.window > 0 ? std::max<int64_t>(0, n_keys - d.window) : 0;
      attend_one(out + (t * d.H + h) * d.D, q + (t * d.H + h) * d.D, k_cache + kvh * d.D, v_cache + kvh * d.D, first,
                 n_keys, d.kv_stride, d.D, scale, scores.data());
    }
  }
}

template <typename T>
void attention_best(float* out, const float* q, const T* k_cache, const T* v_cache, const AttentionDims& d) {
  attention_fast(out, q, k_cache, v_cache, d);
}

}  // namespace

#else

namespace {
template <typename T>
void attention_best(float* out, const float* q, const T* k_cache, const T* v_cache, const AttentionDims& d) {
  attention_ref(out, q, k_cache, v_cache, d);
}
}  // namespace

#endif

void attention_forward(float* out, const float* q, const float* k_cache, const float* v_cache, const AttentionDims& d) {
  attention_best(out, q, k_cache, v_cache, d);
}
void attention_forward(float* out, const float* q, const uint16_t* k_cache, const uint16_t* v_cache,
                       const AttentionDims& d) {
  attention_best(out, q, k_cache, v_cache, d);
}

}  // namespace frugal
