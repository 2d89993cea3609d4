// The "fine-tune a 7B model on a laptop" check: builds a Llama-shaped model from a planner preset
// with random weights created directly in NF4 (+ double-quantized scales) one matrix at a time, so
// no full-precision copy of the linear weights ever exists, then runs QLoRA training steps
// (LoRA r=16 on all linear layers, gradient checkpointing, AdamW) and reports step time and peak RSS.
// Usage: frugal_bench_qlora_step [PRESET=llama-2-7b] [T=512] [steps=1] [f32|bf16]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "core/peak_rss.h"
#include "model/model.h"
#include "model/training_pass.h"
#include "plan/model_shapes.h"
#include "train/optimizer.h"

using namespace frugal;

int main(int argc, char** argv) {
  const std::string preset = argc > 1 ? argv[1] : "llama-2-7b";
  const int64_t T = argc > 2 ? std::atoll(argv[2]) : 512;
  const int steps = argc > 3 ? std::atoi(argv[3]) : 1;
  const Precision precision = argc > 4 ? parse_precision(argv[4]) : parse_precision("auto");
  const LlamaConfig c = find_preset(preset).config;
  Model model;
  model.config = c;
  LlamaWeights& w = model.weights;
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  auto fill = [&](std::vector<float>& v, size_t n, float value) { v.assign(n, value); };
  w.token_embedding.rows = c.vocab_size;
  w.token_embedding.cols = c.dim;
  w.token_embedding.data.resize(static_cast<size_t>(c.vocab_size * c.dim));
  for (float& x : w.token_embedding.data) x = dist(rng);
  fill(w.output_norm, static_cast<size_t>(c.dim), 1.0f);
  if (!c.tied_output) {
    w.output.rows = c.vocab_size;
    w.output.cols = c.dim;
    w.output.data.resize(static_cast<size_t>(c.vocab_size * c.dim));
    for (float& x : w.output.data) x = dist(rng);
  }
  std::vector<float> scratch;
  w.layers.resize(static_cast<size_t>(c.n_layers));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    LayerWeights& lw = w.layers[l];
    fill(lw.attn_norm, static_cast<size_t>(c.dim), 1.0f);
    fill(lw.ffn_norm, static_cast<size_t>(c.dim), 1.0f);
    for (WeightRole r : parse_lora_targets("all-linear")) {
      Matrix& m = linear_weight(w, r, l);
      m.rows = linear_out_features(c, r);
      m.cols = linear_in_features(c, r);
      scratch.resize(static_cast<size_t>(m.rows * m.cols));
      for (float& x : scratch) x = dist(rng);
      m.q4 = std::make_shared<Quant4Matrix>(quantize_matrix_4bit(scratch.data(), m.rows, m.cols, Quant4Type::kNf4, true));
    }
  }
  std::vector<float>().swap(scratch);
  const int64_t linear_params = c.n_layers * block_linear_parameters(c);
  std::printf("%s: %.2fB parameters, linear weights %.3f bytes/parameter resident (NF4 + double quant)\n", preset.c_str(),
              c.parameter_count() / 1e9, static_cast<double>(linear_weight_bytes(w)) / static_cast<double>(linear_params));

  LoraConfig lc;
  lc.r = 16;
  lc.alpha = 32;
  lc.targets = parse_lora_targets("all-linear");
  LoraAdapter adapter = LoraAdapter::create(c, lc);
  TrainingPass pass(model, &adapter, {precision, true, false});
  Batch b;
  b.B = 1;
  b.T = T;
  for (int64_t i = 0; i < T; ++i) {
    b.tokens.push_back(static_cast<int32_t>(rng() % c.vocab_size));
    b.positions.push_back(static_cast<int32_t>(i));
    b.segments.push_back(0);
  }
  for (int64_t i = 0; i < T; ++i) b.targets.push_back(i + 1 < T ? b.tokens[i + 1] : kIgnoreTarget);
  std::vector<float> m(adapter.values.size()), v(adapter.values.size());
  for (int s = 0; s < steps; ++s) {
    pass.zero_grad();
    const auto t0 = std::chrono::steady_clock::now();
    const CrossEntropyResult r = pass.forward_backward(b, 1.0f / static_cast<float>(T - 1), 0);
    adamw_update(ParamSegment{adapter.values.data(), pass.lora_grads().data(), m.data(), v.data(), m.size()},
                 AdamWHyper{2e-4, 0.9, 0.999, 1e-8, 0.0}, s + 1);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("step %d: loss %.4f, %.1f s (%.1f tokens/s), %s matmuls\n", s + 1, r.loss_sum / r.count, secs, T / secs,
                precision_name(precision).c_str());
  }
  std::printf("peak RSS %.2f GiB (micro-batch 1 x %lld, gradient checkpointing, LoRA r=16 all-linear, %zu trainable)\n",
              peak_rss_bytes() / 1073741824.0, static_cast<long long>(T), adapter.values.size());
  return 0;
}
