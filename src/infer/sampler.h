// Picks the next token from logits: greedy, or temperature + top-k + top-p with a seeded RNG.
// The RNG and the top-p procedure are llama2.c's (xorshift*, nucleus over the sorted candidates
// above a cutoff), so a seed reproduces its sampled outputs exactly.
#pragma once
#include <cstdint>
#include <vector>

namespace frugal {

struct SamplingOptions {
  float temperature = 0.0f;  // 0 = greedy
  int32_t top_k = 0;         // 0 = off
  float top_p = 1.0f;        // 1 = off
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options);
  int32_t sample(const float* logits, int64_t vocab_size);

 private:
  float random_f32();
  SamplingOptions options_;
  uint64_t rng_state_;
  std::vector<float> probs_;
  std::vector<int32_t> order_;
};

int32_t argmax(const float* values, int64_t n);

}  // namespace frugal
