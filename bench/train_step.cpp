// Times one LoRA training micro-batch (forward + backward) on a real model, split by phase, to
// see where a step's time goes. Not a test: timings on a shared machine are noisy.
// Usage: frugal_bench_train_step MODEL [B] [T] [f32|bf16] [checkpointing 0|1] [lora_r]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "model/model.h"
#include "model/training_pass.h"

using namespace frugal;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL [B] [T] [f32|bf16] [checkpointing] [lora_r]\n", argv[0]);
    return 2;
  }
  const int64_t B = argc > 2 ? std::atoll(argv[2]) : 4, T = argc > 3 ? std::atoll(argv[3]) : 512;
  const Precision p = argc > 4 ? parse_precision(argv[4]) : Precision::BF16;
  const bool ckpt = argc > 5 && std::atoi(argv[5]) != 0;
  auto model = load_model(argv[1]);
  LoraConfig lc;
  lc.r = argc > 6 ? std::atoll(argv[6]) : 16;
  lc.alpha = 32;
  lc.targets = parse_lora_targets("all-linear");
  LoraAdapter adapter = LoraAdapter::create(model->config, lc);
  TrainingPass pass(*model, &adapter, {p, ckpt, false});
  Batch b;
  b.B = B;
  b.T = T;
  std::mt19937 rng(1);
  for (int64_t i = 0; i < B * T; ++i) {
    b.tokens.push_back(static_cast<int32_t>(rng() % model->config.vocab_size));
    b.positions.push_back(static_cast<int32_t>(i % T));
    b.segments.push_back(0);
  }
  for (int64_t i = 0; i < B * T; ++i) b.targets.push_back((i + 1) % T ? b.tokens[i + 1] : kIgnoreTarget);
  for (int rep = 0; rep < 3; ++rep) {
    pass.zero_grad();
    auto t0 = std::chrono::steady_clock::now();
    CrossEntropyResult r = pass.forward_backward(b, 1.0f / static_cast<float>(b.target_count()), 7);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("step %d: loss %.4f, %.2f s, %.0f tokens/s\n", rep, r.loss_sum / r.count, s, B * T / s);
  }
  return 0;
}
