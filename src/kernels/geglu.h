// GeGLU gate of Gemma's MLP: h = gelu_tanh(g) * u, elementwise, with GELU's tanh approximation
// (PyTorch's gelu(approximate="tanh"), which Gemma's `gelu_pytorch_tanh` names).
#pragma once
#include <cstdint>

namespace frugal {

void geglu_forward(float* h, const float* g, const float* u, int64_t n);

// dg = dh * u * gelu_tanh'(g), du = dh * gelu_tanh(g); both overwritten.
void geglu_backward(float* dg, float* du, const float* dh, const float* g, const float* u, int64_t n);

}  // namespace frugal
