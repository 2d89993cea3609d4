// Rotary position embedding in Hugging Face's rotate-half layout: within each head, dimension i
// pairs with i + D/2 (our internal layout; GGUF/llama2.c weights are permuted to it at load).
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/rope_scaling.h"

namespace frugal {

// cos and sin of every angle position * inv_freq[i] for positions [first_position, first_position +
// count), times the scaling's attention factor (as transformers multiplies them).
struct RopeTable {
  int64_t head_dim = 0;
  int64_t first_position = 0;
  std::vector<float> cos, sin;  // [count, D/2]
  RopeTable(const RopeFrequencies& frequencies, int64_t head_dim, int64_t first_position, int64_t count);
  int64_t positions() const { return static_cast<int64_t>(cos.size()) / (head_dim / 2); }
  int64_t end_position() const { return first_position + positions(); }
};

// x: [T, n_heads * D], rotated in place; positions: [T], each within the table's range.
void rope_forward(float* x, const int32_t* positions, int64_t T, int64_t n_heads, const RopeTable& table);
// The backward pass of rope_forward: the transposed rotation (a rotation times the attention factor,
// so its transpose is the inverse rotation times the same factor).
void rope_backward(float* dx, const int32_t* positions, int64_t T, int64_t n_heads, const RopeTable& table);

}  // namespace frugal
