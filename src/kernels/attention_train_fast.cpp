#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/attention_train.h"
#include "kernels/gemm.h"

namespace frugal {

namespace {

// Queries are taken in blocks of this many positions (times the G query heads of a kv head), so
// the score-sized buffers are [G * block, keys]: memory grows linearly with the sequence, not with
// its square (16k tokens: 50 MB instead of 3 GB per buffer for 3 heads). A block multiplies only
// the keys it can see (up to its last query; from its earliest segment or window start), which
// also skips the masked half of the causal square.
constexpr int64_t kQueryBlock = 256;

// Scratch for one (row, kv head): its keys and values [T, D] (and their gradients), one block of
// the group's queries stacked [G * block, D], and the block's score-sized buffers.
struct AttentionScratch {
  std::vector<float> k, v, dk, dv, q, o, dq, dout, s, dp;
  std::vector<int64_t> start;
  void size(int64_t G, int64_t T, int64_t D) {
    const int64_t block = std::min(T, kQueryBlock);
    for (auto* b : {&k, &v, &dk, &dv}) b->resize(static_cast<size_t>(T * D));
    for (auto* b : {&q, &o, &dq, &dout}) b->resize(static_cast<size_t>(G * block * D));
    for (auto* b : {&s, &dp}) b->resize(static_cast<size_t>(G * block * T));
    start.resize(static_cast<size_t>(T));
  }
};

AttentionScratch& scratch() {
  thread_local AttentionScratch s;
  return s;
}

// Copies head `h` of rows [0, T) from a [T, stride] tensor into a contiguous [T, D] block (or back).
void gather(float* dst, const float* src, int64_t T, int64_t stride, int64_t offset, int64_t D) {
  for (int64_t t = 0; t < T; ++t) std::memcpy(dst + t * D, src + t * stride + offset, sizeof(float) * D);
}
void scatter(float* dst, const float* src, int64_t T, int64_t stride, int64_t offset, int64_t D) {
  for (int64_t t = 0; t < T; ++t) std::memcpy(dst + t * stride + offset, src + t * D, sizeof(float) * D);
}

// The keys [first, end) queries [t0, t1) of a row can see; empty (first == end) when every query is padding.
struct KeyRange {
  int64_t first = 0, end = 0;
};
KeyRange visible_keys(const int32_t* seg, const int64_t* start, int64_t t0, int64_t t1) {
  KeyRange r{t1, t1};
  for (int64_t t = t0; t < t1; ++t)
    if (seg[t] >= 0) r.first = std::min(r.first, start[t]);
  return r;
}

// The G heads' rows [t0, t0 + n) of a [T, H*D] tensor for kv head `kvh`, stacked [G * n, D] (or back).
void gather_group(float* dst, const float* src, int64_t t0, int64_t n, int64_t G, int64_t kvh, int64_t HD, int64_t D) {
  for (int64_t g = 0; g < G; ++g) gather(dst + g * n * D, src + t0 * HD, n, HD, (kvh * G + g) * D, D);
}
void scatter_group(float* dst, const float* src, int64_t t0, int64_t n, int64_t G, int64_t kvh, int64_t HD, int64_t D) {
  for (int64_t g = 0; g < G; ++g) scatter(dst + t0 * HD, src + g * n * D, n, HD, (kvh * G + g) * D, D);
}

}  // namespace

void attention_train_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                             const int32_t* segments, const TrainAttentionDims& d) {
  const int64_t T = d.T, D = d.D, G = d.H / d.KVH, HD = d.H * D, KD = d.KVH * D;
  const float scale = attention_scale(d);
  AttentionScratch& w = scratch();
  w.size(G, T, D);
  for (int64_t b = 0; b < d.B; ++b) {
    const int32_t* seg = segments + b * T;
    segment_starts(seg, T, w.start.data(), d.window);
    for (int64_t kvh = 0; kvh < d.KVH; ++kvh) {
      gather(w.k.data(), k + b * T * KD, T, KD, kvh * D, D);
      gather(w.v.data(), v + b * T * KD, T, KD, kvh * D, D);
      for (int64_t t0 = 0; t0 < T; t0 += kQueryBlock) {
        const int64_t n = std::min(kQueryBlock, T - t0);
        const KeyRange keys = visible_keys(seg, w.start.data(), t0, t0 + n);
        const int64_t nk = keys.end - keys.first;
        gather_group(w.q.data(), q + b * T * HD, t0, n, G, kvh, HD, D);
        if (nk > 0)  // S = Q K^T over the visible keys
          gemm_f32(w.s.data(), w.q.data(), &w.k[keys.first * D], {G * n, nk, D, false, true, false});
#pragma omp parallel for
        for (int64_t r = 0; r < G * n; ++r) {
          const int64_t t = t0 + r % n, h = kvh * G + r / n;
          float* row = &w.s[r * nk];
          if (seg[t] < 0) {
            std::fill(row, row + nk, 0.0f);
            lse[(b * T + t) * d.H + h] = 0.0f;
            continue;
          }
          const int64_t s0 = w.start[t] - keys.first, last = t - keys.first;
          float mx = -INFINITY;
          for (int64_t j = s0; j <= last; ++j) mx = std::max(mx, row[j] * scale);
          float sum = 0;
          for (int64_t j = s0; j <= last; ++j) sum += (row[j] = std::exp(row[j] * scale - mx));
          const float inv = 1.0f / sum;
          for (int64_t j = 0; j < nk; ++j) row[j] = (j >= s0 && j <= last) ? row[j] * inv : 0.0f;
          lse[(b * T + t) * d.H + h] = mx + std::log(sum);
        }
        if (nk > 0)  // O = P V
          gemm_f32(w.o.data(), w.s.data(), &w.v[keys.first * D], {G * n, D, nk, false, false, false});
        else
          std::fill(w.o.begin(), w.o.begin() + G * n * D, 0.0f);
        scatter_group(out + b * T * HD, w.o.data(), t0, n, G, kvh, HD, D);
      }
    }
  }
}

void attention_train_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                              const float* v, const float* out, const float* lse, const int32_t* segments,
                              const TrainAttentionDims& d) {
  const int64_t T = d.T, D = d.D, G = d.H / d.KVH, HD = d.H * D, KD = d.KVH * D;
  const float scale = attention_scale(d);
  AttentionScratch& w = scratch();
  w.size(G, T, D);
  for (int64_t b = 0; b < d.B; ++b) {
    const int32_t* seg = segments + b * T;
    segment_starts(seg, T, w.start.data(), d.window);
    for (int64_t kvh = 0; kvh < d.KVH; ++kvh) {
      gather(w.k.data(), k + b * T * KD, T, KD, kvh * D, D);
      gather(w.v.data(), v + b * T * KD, T, KD, kvh * D, D);
      std::fill(w.dk.begin(), w.dk.end(), 0.0f);  // every block adds its share
      std::fill(w.dv.begin(), w.dv.end(), 0.0f);
      for (int64_t t0 = 0; t0 < T; t0 += kQueryBlock) {
        const int64_t n = std::min(kQueryBlock, T - t0);
        const KeyRange keys = visible_keys(seg, w.start.data(), t0, t0 + n);
        const int64_t nk = keys.end - keys.first;
        if (nk == 0) {  // padding only: no gradient reaches or leaves these queries
          std::fill(w.dq.begin(), w.dq.begin() + G * n * D, 0.0f);
          scatter_group(dq + b * T * HD, w.dq.data(), t0, n, G, kvh, HD, D);
          continue;
        }
        gather_group(w.q.data(), q + b * T * HD, t0, n, G, kvh, HD, D);
        gather_group(w.o.data(), out + b * T * HD, t0, n, G, kvh, HD, D);
        gather_group(w.dout.data(), dout + b * T * HD, t0, n, G, kvh, HD, D);
        const float* kb = &w.k[keys.first * D];
        const float* vb = &w.v[keys.first * D];
        gemm_f32(w.s.data(), w.q.data(), kb, {G * n, nk, D, false, true, false});      // S = Q K^T
        gemm_f32(w.dp.data(), w.dout.data(), vb, {G * n, nk, D, false, true, false});  // dP = dO V^T
#pragma omp parallel for
        for (int64_t r = 0; r < G * n; ++r) {
          const int64_t t = t0 + r % n, h = kvh * G + r / n;
          float* p = &w.s[r * nk];
          float* ds = &w.dp[r * nk];
          if (seg[t] < 0) {
            std::fill(p, p + nk, 0.0f);
            std::fill(ds, ds + nk, 0.0f);
            continue;
          }
          const int64_t s0 = w.start[t] - keys.first, last = t - keys.first;
          const float l = lse[(b * T + t) * d.H + h];
          float delta = 0;  // sum_j P_j dP_j == dO . O
          for (int64_t i = 0; i < D; ++i) delta += w.dout[r * D + i] * w.o[r * D + i];
          for (int64_t j = 0; j < nk; ++j) {
            const bool visible = j >= s0 && j <= last;
            const float prob = visible ? std::exp(p[j] * scale - l) : 0.0f;
            p[j] = prob;
            ds[j] = prob * (ds[j] - delta) * scale;
          }
        }
        gemm_f32(w.dq.data(), w.dp.data(), kb, {G * n, D, nk, false, false, false});                 // dQ = dS K
        gemm_f32(&w.dk[keys.first * D], w.dp.data(), w.q.data(), {nk, D, G * n, true, false, true});  // dK += dS^T Q
        gemm_f32(&w.dv[keys.first * D], w.s.data(), w.dout.data(), {nk, D, G * n, true, false, true}); // dV += P^T dO
        scatter_group(dq + b * T * HD, w.dq.data(), t0, n, G, kvh, HD, D);
      }
      scatter(dk + b * T * KD, w.dk.data(), T, KD, kvh * D, D);
      scatter(dv + b * T * KD, w.dv.data(), T, KD, kvh * D, D);
    }
  }
}

}  // namespace frugal
