// A LoRA adapter on every linear layer with B drawn at random (PEFT starts B at zero, which
// would leave A without gradient), for gradient and equivalence tests.
#pragma once
#include <random>

#include "model/lora.h"

namespace frugal::test {

inline LoraAdapter random_lora(const LlamaConfig& config, float b_stddev, uint32_t seed) {
  LoraConfig lc;
  lc.r = 4;
  lc.alpha = 8;
  lc.targets = parse_lora_targets("all-linear");
  LoraAdapter a = LoraAdapter::create(config, lc);
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, b_stddev);
  for (const LoraLayer& l : a.layers)
    for (int64_t i = 0; i < l.out * lc.r; ++i) a.b(l)[i] = dist(rng);
  return a;
}

}  // namespace frugal::test
