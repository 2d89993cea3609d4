#include "kernels/rmsnorm.h"

namespace frugal {

// y = x * r * w with r = (mean(x^2) + eps)^-1/2. For one row:
//   dx = r * (w*dy) - x * r^3 / C * sum(w*dy*x);   dw += dy * x * r.
void rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w, const float* inv_rms,
                      int64_t T, int64_t C) {
#pragma omp parallel for if (T > 4)
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * C;
    const float* dyt = dy + t * C;
    float* dxt = dx + t * C;
    const float r = inv_rms[t];
    float dot = 0;
    for (int64_t c = 0; c < C; ++c) dot += w[c] * dyt[c] * xt[c];
    const float k = dot * r * r * r / static_cast<float>(C);
    for (int64_t c = 0; c < C; ++c) dxt[c] += r * w[c] * dyt[c] - k * xt[c];
  }
  if (dw) {
    for (int64_t t = 0; t < T; ++t)
      for (int64_t c = 0; c < C; ++c) dw[c] += dy[t * C + c] * x[t * C + c] * inv_rms[t];
  }
}

}  // namespace frugal
