#include "kernels/swiglu.h"

#include <cmath>

namespace frugal {

void swiglu_forward(float* h, const float* g, const float* u, int64_t n) {
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; ++i) h[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void swiglu_backward(float* dg, float* du, const float* dh, const float* g, const float* u, int64_t n) {
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float sig = 1.0f / (1.0f + std::exp(-g[i]));
    const float silu = g[i] * sig;
    du[i] = dh[i] * silu;
    dg[i] = dh[i] * u[i] * sig * (1.0f + g[i] * (1.0f - sig));
  }
}

}  // namespace frugal
