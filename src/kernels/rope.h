// Rotary position embedding in Hugging Face's rotate-half layout: within each head, dimension i
// pairs with i + D/2 (our internal layout; GGUF/llama2.c weights are permuted to it at load).
#pragma once
#include <cstdint>
#include <vector>

namespace frugal {

struct RopeTable {
  int64_t head_dim = 0;
  std::vector<float> cos, sin;  // [positions, D/2]
  // freq_factors (Llama 3's rope_freqs, [D/2] or empty): frequency i is divided by factor i.
  RopeTable(int64_t max_positions, int64_t head_dim, float theta, float linear_factor,
            const std::vector<float>& freq_factors = {});
  int64_t positions() const { return static_cast<int64_t>(cos.size()) / (head_dim / 2); }
};

// x: [T, n_heads * D], rotated in place; positions: [T].
void rope_forward(float* x, const int32_t* positions, int64_t T, int64_t n_heads, const RopeTable& table);
// The inverse rotation, which is the backward pass of rope_forward (rotations are orthogonal).
void rope_backward(float* dx, const int32_t* positions, int64_t T, int64_t n_heads, const RopeTable& table);

}  // namespace frugal
