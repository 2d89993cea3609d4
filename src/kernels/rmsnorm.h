// RMSNorm over the last dimension: y = x / sqrt(mean(x^2) + eps) * w.
#pragma once
#include <cstdint>

namespace frugal {

// x, y: [T, C]; w: [C]; inv_rms (optional, [T]) is saved for the backward pass.
void rmsnorm_forward(float* y, float* inv_rms, const float* x, const float* w, int64_t T, int64_t C, float eps);

// Accumulates into dx ([T, C]) and, when non-null, dw ([C]); inv_rms from the forward pass.
void rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w, const float* inv_rms,
                      int64_t T, int64_t C);

}  // namespace frugal
