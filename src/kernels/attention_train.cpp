#include "kernels/attention_train.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace frugal {

void segment_starts(const int32_t* seg, int64_t T, int64_t* start, int64_t window) {
  for (int64_t t = 0; t < T; ++t) start[t] = (t > 0 && seg[t] == seg[t - 1]) ? start[t - 1] : t;
  if (window > 0)
    for (int64_t t = 0; t < T; ++t) start[t] = std::max(start[t], t - window + 1);
}

float attention_scale(const TrainAttentionDims& d) {
  return d.scale > 0 ? d.scale : 1.0f / std::sqrt(static_cast<float>(d.D));
}

void attention_train_forward_ref(float* out, float* lse, const float* q, const float* k, const float* v,
                             const int32_t* segments, const TrainAttentionDims& d) {
  const int64_t HD = d.H * d.D, KD = d.KVH * d.D, group = d.H / d.KVH;
  const float scale = attention_scale(d);
#pragma omp parallel
  {
    std::vector<float> scores(d.T);
    std::vector<int64_t> start(d.T);
#pragma omp for collapse(2) schedule(dynamic, 8)
    for (int64_t b = 0; b < d.B; ++b)
      for (int64_t t = 0; t < d.T; ++t) {
        const int32_t* seg = segments + b * d.T;
        segment_starts(seg, d.T, start.data(), d.window);  // cheap (T) next to the T*D work per head below
        const int64_t row = b * d.T + t;
        for (int64_t h = 0; h < d.H; ++h) {
          float* o = out + row * HD + h * d.D;
          if (seg[t] < 0) {
            std::fill(o, o + d.D, 0.0f);
            lse[row * d.H + h] = 0.0f;
            continue;
          }
          const float* qv = q + row * HD + h * d.D;
          const int64_t kvh = h / group, s0 = start[t];
          float mx = -INFINITY;
          for (int64_t s = s0; s <= t; ++s) {
            const float* kv = k + (b * d.T + s) * KD + kvh * d.D;
            float dot = 0;
            for (int64_t i = 0; i < d.D; ++i) dot += qv[i] * kv[i];
            scores[s] = dot * scale;
            mx = std::max(mx, scores[s]);
          }
          float sum = 0;
          for (int64_t s = s0; s <= t; ++s) sum += (scores[s] = std::exp(scores[s] - mx));
          const float inv = 1.0f / sum;
          std::fill(o, o + d.D, 0.0f);
          for (int64_t s = s0; s <= t; ++s) {
            const float* vv = v + (b * d.T + s) * KD + kvh * d.D;
            const float p = scores[s] * inv;
            for (int64_t i = 0; i < d.D; ++i) o[i] += p * vv[i];
          }
          lse[row * d.H + h] = mx + std::log(sum);
        }
      }
  }
}

void attention_train_backward_ref(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                              const float* v, const float* out, const float* lse, const int32_t* segments,
                              const TrainAttentionDims& d) {
  const int64_t HD = d.H * d.D, KD = d.KVH * d.D, group = d.H / d.KVH;
  const float scale = attention_scale(d);
  std::memset(dq, 0, sizeof(float) * d.B * d.T * HD);
  std::memset(dk, 0, sizeof(float) * d.B * d.T * KD);
  std::memset(dv, 0, sizeof(float) * d.B * d.T * KD);
  // One task per (row, kv head): it owns that head's dk/dv slice, so no two threads write the same place.
#pragma omp parallel
  {
    std::vector<float> p(d.T);
    std::vector<int64_t> start(d.T);
#pragma omp for collapse(2) schedule(dynamic, 1)
    for (int64_t b = 0; b < d.B; ++b)
      for (int64_t kvh = 0; kvh < d.KVH; ++kvh) {
        const int32_t* seg = segments + b * d.T;
        segment_starts(seg, d.T, start.data(), d.window);
        for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h)
          for (int64_t t = 0; t < d.T; ++t) {
            if (seg[t] < 0) continue;
            const int64_t row = b * d.T + t, s0 = start[t];
            const float* qv = q + row * HD + h * d.D;
            const float* dov = dout + row * HD + h * d.D;
            const float* ov = out + row * HD + h * d.D;
            const float l = lse[row * d.H + h];
            float delta = 0;  // sum_j p_j * (do . v_j) == do . o
            for (int64_t i = 0; i < d.D; ++i) delta += dov[i] * ov[i];
            float* dqv = dq + row * HD + h * d.D;
            for (int64_t s = s0; s <= t; ++s) {
              const float* kv = k + (b * d.T + s) * KD + kvh * d.D;
              const float* vv = v + (b * d.T + s) * KD + kvh * d.D;
              float dot = 0, dp = 0;
              for (int64_t i = 0; i < d.D; ++i) {
                dot += qv[i] * kv[i];
                dp += dov[i] * vv[i];
              }
              const float prob = std::exp(dot * scale - l);
              const float ds = prob * (dp - delta) * scale;
              float* dkv = dk + (b * d.T + s) * KD + kvh * d.D;
              float* dvv = dv + (b * d.T + s) * KD + kvh * d.D;
              for (int64_t i = 0; i < d.D; ++i) {
                dqv[i] += ds * kv[i];
                dkv[i] += ds * qv[i];
                dvv[i] += prob * dov[i];
              }
            }
          }
      }
  }
}

}  // namespace frugal
