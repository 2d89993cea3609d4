#include "infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace frugal {

int32_t argmax(const float* values, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (values[i] > values[best]) best = i;
  return static_cast<int32_t>(best);
}

Sampler::Sampler(const SamplingOptions& options) : options_(options), rng_state_(options.seed) {
  if (options.temperature < 0) fail("temperature must be >= 0");
  if (options.top_p <= 0 || options.top_p > 1) fail("top-p must be in (0, 1]");
  if (options.top_k < 0) fail("top-k must be >= 0");
  if (rng_state_ == 0) rng_state_ = 0x9E3779B97F4A7C15ull;  // xorshift must not start at zero
}

float Sampler::random_f32() {
  rng_state_ ^= rng_state_ >> 12;
  rng_state_ ^= rng_state_ << 25;
  rng_state_ ^= rng_state_ >> 27;
  const uint32_t bits = static_cast<uint32_t>((rng_state_ * 0x2545F4914F6CDD1Dull) >> 32);
  return static_cast<float>(bits >> 8) / 16777216.0f;
}

int32_t Sampler::sample(const float* logits, int64_t n) {
  if (options_.temperature == 0.0f) return argmax(logits, n);
  probs_.resize(n);
  for (int64_t i = 0; i < n; ++i) probs_[i] = logits[i] / options_.temperature;
  if (options_.top_k > 0 && options_.top_k < n) {
    // Keep the k largest logits; the rest get zero probability.
    std::vector<float> sorted(probs_);
    std::nth_element(sorted.begin(), sorted.begin() + (options_.top_k - 1), sorted.end(), std::greater<float>());
    const float kth = sorted[options_.top_k - 1];
    for (float& p : probs_)
      if (p < kth) p = -INFINITY;
  }
  const float max_logit = *std::max_element(probs_.begin(), probs_.end());
  float sum = 0;
  for (float& p : probs_) {
    p = std::exp(p - max_logit);
    sum += p;
  }
  for (float& p : probs_) p /= sum;
  const float coin = random_f32();

  if (options_.top_p >= 1.0f) {
    float cdf = 0;
    for (int64_t i = 0; i < n; ++i) {
      cdf += probs_[i];
      if (coin < cdf) return static_cast<int32_t>(i);
    }
    return static_cast<int32_t>(n - 1);
  }
  // Nucleus: candidates that could be in the top-p set, sorted by probability, cut where the
  // cumulative mass first exceeds p, then sampled in proportion within the cut.
  const float cutoff = (1.0f - options_.top_p) / static_cast<float>(n - 1);
  order_.clear();
  for (int64_t i = 0; i < n; ++i)
    if (probs_[i] >= cutoff) order_.push_back(static_cast<int32_t>(i));
  std::sort(order_.begin(), order_.end(), [&](int32_t a, int32_t b) { return probs_[a] > probs_[b]; });
  float cumulative = 0;
  size_t last = order_.size() - 1;
  for (size_t i = 0; i < order_.size(); ++i) {
    cumulative += probs_[order_[i]];
    if (cumulative > options_.top_p) {
      last = i;
      break;
    }
  }
  const float r = coin * cumulative;
  float cdf = 0;
  for (size_t i = 0; i <= last; ++i) {
    cdf += probs_[order_[i]];
    if (r < cdf) return order_[i];
  }
  return order_[last];
}

}  // namespace frugal
