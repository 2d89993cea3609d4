#include "model/random_init.h"

#include <cmath>

#include "core/counter_rng.h"

namespace frugal {

namespace {

bool is_norm(WeightRole r) {
  return r == WeightRole::AttnNorm || r == WeightRole::FfnNorm || r == WeightRole::OutputNorm;
}
bool is_bias(WeightRole r) { return r == WeightRole::Bq || r == WeightRole::Bk || r == WeightRole::Bv; }

// One key per tensor, so tensors of the same shape get different values.
uint64_t tensor_key(uint64_t seed, const WeightSlot& s) {
  const uint64_t id = static_cast<uint64_t>(s.layer + 1) * 64 + static_cast<uint64_t>(s.role);
  return splitmix64(splitmix64(seed) ^ splitmix64(id ^ 0x5EEDull));
}

// A standard normal from 64 random bits (Box-Muller, one of the pair): 32 bits for the radius (never
// 0, so the log is finite: |z| <= 6.7) and 32 for the angle.
double standard_normal(uint64_t bits) {
  const double u1 = (static_cast<double>(bits >> 32) + 0.5) * 0x1p-32;
  const double u2 = static_cast<double>(bits & 0xFFFFFFFFull) * 0x1p-32;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace

void fill_random_weight(const WeightSlot& s, const RandomInit& init, int64_t first_row, int64_t n_rows, float* out) {
  const int64_t n = n_rows * s.cols;
  if (is_norm(s.role) || is_bias(s.role)) {
    const float value = is_norm(s.role) ? 1.0f : 0.0f;
    for (int64_t i = 0; i < n; ++i) out[i] = value;
    return;
  }
  const uint64_t key = tensor_key(init.seed, s);
  const int64_t first = first_row * s.cols;
  const double std = init.std;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i)
    out[i] = static_cast<float>(std * standard_normal(splitmix64(key + static_cast<uint64_t>(first + i))));
  // nn.Embedding(padding_idx=pad_token_id) starts that row at zero.
  const int64_t pad = init.padding_row;
  if (s.role == WeightRole::TokenEmbedding && pad >= first_row && pad < first_row + n_rows)
    for (int64_t j = 0; j < s.cols; ++j) out[(pad - first_row) * s.cols + j] = 0.0f;
}

void randomize_weights(const LlamaConfig& config, LlamaWeights& weights, const RandomInit& init) {
  for (const WeightSlot& s : weight_slots(config, weights)) fill_random_weight(s, init, 0, s.rows, s.data);
}

}  // namespace frugal
