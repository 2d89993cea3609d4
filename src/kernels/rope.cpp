#include "kernels/rope.h"

#include <cmath>

namespace frugal {

RopeTable::RopeTable(int64_t max_positions, int64_t d, float theta, float linear_factor,
                     const std::vector<float>& freq_factors)
    : head_dim(d) {
  const int64_t half = d / 2;
  cos.resize(static_cast<size_t>(max_positions * half));
  sin.resize(cos.size());
  // Computed in fp32 the way transformers does (inv_freq, then pos * inv_freq), so angles agree.
  std::vector<float> inv_freq(half);
  for (int64_t i = 0; i < half; ++i)
    inv_freq[i] = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(d));
  for (size_t i = 0; i < freq_factors.size() && i < inv_freq.size(); ++i) inv_freq[i] /= freq_factors[i];
  for (int64_t p = 0; p < max_positions; ++p)
    for (int64_t i = 0; i < half; ++i) {
      const float angle = (static_cast<float>(p) / linear_factor) * inv_freq[i];
      cos[p * half + i] = std::cos(angle);
      sin[p * half + i] = std::sin(angle);
    }
}

namespace {
void rotate(float* x, const int32_t* positions, int64_t T, int64_t n_heads, const RopeTable& table, float sign) {
  const int64_t D = table.head_dim, half = D / 2;
#pragma omp parallel for if (T > 8)
  for (int64_t t = 0; t < T; ++t) {
    const float* c = &table.cos[static_cast<size_t>(positions[t]) * half];
    const float* s = &table.sin[static_cast<size_t>(positions[t]) * half];
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * D;
      for (int64_t i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half], sn = sign * s[i];
        v[i] = a * c[i] - b * sn;
        v[i + half] = b * c[i] + a * sn;
      }
    }
  }
}
}  // namespace

void rope_forward(float* x, const int32_t* positions, int64_t T, int64_t n_heads, const RopeTable& table) {
  rotate(x, positions, T, n_heads, table, 1.0f);
}

void rope_backward(float* dx, const int32_t* positions, int64_t T, int64_t n_heads, const RopeTable& table) {
  rotate(dx, positions, T, n_heads, table, -1.0f);
}

}  // namespace frugal
