#include "kernels/matmul.h"

namespace frugal {

void matmul_ref(float* y, const float* x, const float* w, int64_t M, int64_t N, int64_t K) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;  // double so the reference is the more accurate side of any comparison
      for (int64_t k = 0; k < K; ++k) acc += static_cast<double>(x[m * K + k]) * w[n * K + k];
      y[m * N + n] = static_cast<float>(acc);
    }
}

}  // namespace frugal
