#include "kernels/geglu.h"

#include <cmath>

namespace frugal {

namespace {
constexpr float kBeta = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kKappa = 0.044715f;
}  // namespace

void geglu_forward(float* h, const float* g, const float* u, int64_t n) {
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float x = g[i];
    h[i] = 0.5f * x * (1.0f + std::tanh(kBeta * (x + kKappa * x * x * x))) * u[i];
  }
}

void geglu_backward(float* dg, float* du, const float* dh, const float* g, const float* u, int64_t n) {
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float x = g[i];
    const float th = std::tanh(kBeta * (x + kKappa * x * x * x));
    const float gelu = 0.5f * x * (1.0f + th);
    // d/dx [x/2 (1 + tanh(b(x + k x^3)))] = (1 + th)/2 + x/2 (1 - th^2) b (1 + 3k x^2)
    const float dgelu = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * kBeta * (1.0f + 3.0f * kKappa * x * x);
    du[i] = dh[i] * gelu;
    dg[i] = dh[i] * u[i] * dgelu;
  }
}

}  // namespace frugal
