#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace frugal {

void attention_forward(float* out, const float* q, const float* k_cache, const float* v_cache, const AttentionDims& d) {
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
          const float* kv = k_cache + s * d.kv_stride + kvh * d.D;
          float dot = 0;
          for (int64_t i = 0; i < d.D; ++i) dot += qv[i] * kv[i];
          scores[s] = dot * scale;
          max_score = std::max(max_score, scores[s]);
        }
        float sum = 0;
        for (int64_t s = first; s < n_keys; ++s) {
          scores[s] = std::exp(scores[s] - max_score);
          sum += scores[s];
        }
        const float inv = 1.0f / sum;
        float* o = out + (t * d.H + h) * d.D;
        std::fill(o, o + d.D, 0.0f);
        for (int64_t s = first; s < n_keys; ++s) {
          const float* vv = v_cache + s * d.kv_stride + kvh * d.D;
          const float p = scores[s] * inv;
          for (int64_t i = 0; i < d.D; ++i) o[i] += p * vv[i];
        }
      }
  }
}

}  // namespace frugal
