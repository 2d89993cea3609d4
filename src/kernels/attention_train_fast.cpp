#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/attention_train.h"
#include "kernels/gemm.h"

namespace frugal {

namespace {

// Scratch for one (row, kv head): the group's queries stacked [G*T, D], its keys and values [T, D],
// and score-sized buffers [G*T, T].
struct AttentionScratch {
  std::vector<float> q, k, v, o, dq, dk, dv, dout, s, dp;
  std::vector<int64_t> start;
  void size(int64_t G, int64_t T, int64_t D) {
    for (auto* b : {&q, &o, &dq, &dout}) b->resize(static_cast<size_t>(G * T * D));
    for (auto* b : {&k, &v, &dk, &dv}) b->resize(static_cast<size_t>(T * D));
    for (auto* b : {&s, &dp}) b->resize(static_cast<size_t>(G * T * T));
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
      for (int64_t g = 0; g < G; ++g) gather(&w.q[g * T * D], q + b * T * HD, T, HD, (kvh * G + g) * D, D);
      gather(w.k.data(), k + b * T * KD, T, KD, kvh * D, D);
      gather(w.v.data(), v + b * T * KD, T, KD, kvh * D, D);
      gemm_f32(w.s.data(), w.q.data(), w.k.data(), {G * T, T, D, false, true, false});  // S = Q K^T
#pragma omp parallel for
      for (int64_t r = 0; r < G * T; ++r) {
        const int64_t t = r % T, h = kvh * G + r / T;
        float* row = &w.s[r * T];
        if (seg[t] < 0) {
          std::fill(row, row + T, 0.0f);
          lse[(b * T + t) * d.H + h] = 0.0f;
          continue;
        }
        const int64_t s0 = w.start[t];
        float mx = -INFINITY;
        for (int64_t j = s0; j <= t; ++j) mx = std::max(mx, row[j] * scale);
        float sum = 0;
        for (int64_t j = s0; j <= t; ++j) sum += (row[j] = std::exp(row[j] * scale - mx));
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < T; ++j) row[j] = (j >= s0 && j <= t) ? row[j] * inv : 0.0f;
        lse[(b * T + t) * d.H + h] = mx + std::log(sum);
      }
      gemm_f32(w.o.data(), w.s.data(), w.v.data(), {G * T, D, T, false, false, false});  // O = P V
      for (int64_t g = 0; g < G; ++g) scatter(out + b * T * HD, &w.o[g * T * D], T, HD, (kvh * G + g) * D, D);
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
      for (int64_t g = 0; g < G; ++g) {
        gather(&w.q[g * T * D], q + b * T * HD, T, HD, (kvh * G + g) * D, D);
        gather(&w.o[g * T * D], out + b * T * HD, T, HD, (kvh * G + g) * D, D);
        gather(&w.dout[g * T * D], dout + b * T * HD, T, HD, (kvh * G + g) * D, D);
      }
      gather(w.k.data(), k + b * T * KD, T, KD, kvh * D, D);
      gather(w.v.data(), v + b * T * KD, T, KD, kvh * D, D);
      gemm_f32(w.s.data(), w.q.data(), w.k.data(), {G * T, T, D, false, true, false});      // S = Q K^T
      gemm_f32(w.dp.data(), w.dout.data(), w.v.data(), {G * T, T, D, false, true, false});  // dP = dO V^T
#pragma omp parallel for
      for (int64_t r = 0; r < G * T; ++r) {
        const int64_t t = r % T, h = kvh * G + r / T;
        float* p = &w.s[r * T];
        float* ds = &w.dp[r * T];
        if (seg[t] < 0) {
          std::fill(p, p + T, 0.0f);
          std::fill(ds, ds + T, 0.0f);
          continue;
        }
        const int64_t s0 = w.start[t];
        const float l = lse[(b * T + t) * d.H + h];
        float delta = 0;  // sum_j P_j dP_j == dO . O
        for (int64_t i = 0; i < D; ++i) delta += w.dout[r * D + i] * w.o[r * D + i];
        for (int64_t j = 0; j < T; ++j) {
          const bool visible = j >= s0 && j <= t;
          const float prob = visible ? std::exp(p[j] * scale - l) : 0.0f;
          p[j] = prob;
          ds[j] = prob * (ds[j] - delta) * scale;
        }
      }
      gemm_f32(w.dq.data(), w.dp.data(), w.k.data(), {G * T, D, T, false, false, false});  // dQ = dS K
      gemm_f32(w.dk.data(), w.dp.data(), w.q.data(), {T, D, G * T, true, false, false});   // dK = dS^T Q
      gemm_f32(w.dv.data(), w.s.data(), w.dout.data(), {T, D, G * T, true, false, false}); // dV = P^T dO
      for (int64_t g = 0; g < G; ++g) scatter(dq + b * T * HD, &w.dq[g * T * D], T, HD, (kvh * G + g) * D, D);
      scatter(dk + b * T * KD, w.dk.data(), T, KD, kvh * D, D);
      scatter(dv + b * T * KD, w.dv.data(), T, KD, kvh * D, D);
    }
  }
}

}  // namespace frugal
