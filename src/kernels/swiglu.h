// SwiGLU gate of the Llama MLP: h = silu(g) * u, elementwise.
#pragma once
#include <cstdint>

namespace frugal {

void swiglu_forward(float* h, const float* g, const float* u, int64_t n);

// dg = dh * u * silu'(g), du = dh * silu(g); both overwritten.
void swiglu_backward(float* dg, float* du, const float* dh, const float* g, const float* u, int64_t n);

}  // namespace frugal
