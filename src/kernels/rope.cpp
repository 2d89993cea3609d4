#include "kernels/rope.h"

#include <cmath>

namespace frugal {

RopeTable::RopeTable(const RopeFrequencies& f, int64_t d, int64_t first, int64_t count)
    : head_dim(d), first_position(first) {
  const int64_t half = d / 2;
  cos.resize(static_cast<size_t>(count * half));
  sin.resize(cos.size());
  // Angles in fp32 the way transformers forms them (fp32 inv_freq times fp32 position), so that
  // they agree far into a long context; cos and sin then times the attention factor.
  std::vector<float> inv_freq(f.inv_freq.begin(), f.inv_freq.end());
  const float scale = static_cast<float>(f.attention_factor);
  for (int64_t p = 0; p < count; ++p)
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(first + p) * inv_freq[i];
      cos[p * half + i] = std::cos(angle) * scale;
      sin[p * half + i] = std::sin(angle) * scale;
    }
}

namespace {
void rotate(float* x, const int32_t* positions, int64_t T, int64_t n_heads, const RopeTable& table, float sign) {
  const int64_t D = table.head_dim, half = D / 2;
#pragma omp parallel for if (T > 8)
  for (int64_t t = 0; t < T; ++t) {
    const size_t row = static_cast<size_t>(positions[t] - table.first_position) * half;
    const float* c = &table.cos[row];
    const float* s = &table.sin[row];
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
