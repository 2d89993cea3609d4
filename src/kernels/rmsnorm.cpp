#include "kernels/rmsnorm.h"

#include <cmath>

namespace frugal {

void rmsnorm_forward(float* y, float* inv_rms, const float* x, const float* w, int64_t T, int64_t C, float eps) {
#pragma omp parallel for if (T > 4)
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * C;
    float* yt = y + t * C;
    float ss = 0;
    for (int64_t c = 0; c < C; ++c) ss += xt[c] * xt[c];
    const float r = 1.0f / std::sqrt(ss / static_cast<float>(C) + eps);
    if (inv_rms) inv_rms[t] = r;
    for (int64_t c = 0; c < C; ++c) yt[c] = xt[c] * r * w[c];
  }
}

}  // namespace frugal
