// Adapters kept unmerged (model/adapter_linears.h) against the same adapters merged into the
// weights, which tests/model/test_peft_logits.cpp checks against PEFT: the server's path must give
// the logits and greedy text of `frugal generate --adapter`.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "infer/generate.h"
#include "infer/session.h"
#include "lora_test_util.h"
#include "model/adapter_linears.h"
#include "model/model.h"
#include "test_paths.h"

namespace frugal {
namespace {

std::unique_ptr<Model> stories() {
  return load_model(test::data_file("stories260K/stories260K.bin"), test::data_file("stories260K/tok512.bin"));
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

TEST(ServeAdapter, UnmergedLogitsEqualMergedOverPromptAndDecode) {
  auto base = stories();
  auto merged = stories();
  const LoraAdapter adapter = test::random_lora(base->config, 0.05f, 7);
  merge_lora_into(merged->weights, adapter);
  const std::vector<int32_t> prompt = base->tokenizer->encode("Lily saw a big red ball", true, false);
  InferenceSession unmerged_session(*base, 64, Precision::F32, &adapter);
  InferenceSession merged_session(*merged, 64, Precision::F32);
  InferenceSession base_session(*base, 64, Precision::F32);
  std::vector<float> u = unmerged_session.forward(prompt.data(), static_cast<int64_t>(prompt.size()), true);
  std::vector<float> m = merged_session.forward(prompt.data(), static_cast<int64_t>(prompt.size()), true);
  std::vector<float> b = base_session.forward(prompt.data(), static_cast<int64_t>(prompt.size()), true);
  EXPECT_LT(max_abs_diff(u, m), 1e-4f);
  EXPECT_GT(max_abs_diff(u, b), 0.1f);  // the adapter changes the model: the equality above means something
  for (int32_t token : {5, 77, 301}) {  // decode steps read the cache the adapted projections wrote
    u = unmerged_session.forward(&token, 1);
    m = merged_session.forward(&token, 1);
    EXPECT_LT(max_abs_diff(u, m), 1e-4f);
  }
}

TEST(ServeAdapter, GreedyTextEqualsMergedAndBaseStaysUntouched) {
  auto base = stories();
  auto merged = stories();
  const LoraAdapter adapter = test::random_lora(base->config, 0.05f, 11);
  merge_lora_into(merged->weights, adapter);
  const std::vector<int32_t> prompt = base->tokenizer->encode("Once upon a time", true, false);
  GenerateOptions g;
  g.max_new_tokens = 60;
  const GenerateResult plain = generate(*base, prompt, g, nullptr);
  const GenerateResult want = generate(*merged, prompt, g, nullptr);
  g.adapter = &adapter;
  const GenerateResult got = generate(*base, prompt, g, nullptr);
  EXPECT_EQ(got.tokens, want.tokens);
  EXPECT_NE(got.tokens, plain.tokens);
  g.adapter = nullptr;  // the shared base was not changed by serving the adapter
  EXPECT_EQ(generate(*base, prompt, g, nullptr).tokens, plain.tokens);
}

TEST(ServeAdapter, RowGroupsOfOneCallEqualEachAdapterAlone) {
  // A batched step (later: continuous batching) gives each sequence's rows its own adapter.
  auto model = stories();
  const LlamaConfig& c = model->config;
  const LoraAdapter a1 = test::random_lora(c, 0.05f, 1), a2 = test::random_lora(c, 0.05f, 2);
  const int64_t N = 7, C = c.dim;
  std::vector<float> x(static_cast<size_t>(N * C));
  std::mt19937 rng(3);
  std::normal_distribution<float> dist;
  for (float& v : x) v = dist(rng);
  BlockActivations scratch;
  for (WeightRole role : {WeightRole::Wq, WeightRole::Wv, WeightRole::Up}) {
    const int64_t out = linear_out_features(c, role);
    std::vector<float> together(static_cast<size_t>(N * out)), alone(together.size());
    AdapterLinears grouped(model->weights, Precision::F32, {{0, 3, &a1}, {3, 2, nullptr}, {5, 2, &a2}});
    grouped.forward(together.data(), x.data(), role, 1, N, scratch);
    struct Part { int64_t first, rows; const LoraAdapter* adapter; };
    for (const Part& p : {Part{0, 3, &a1}, Part{3, 2, nullptr}, Part{5, 2, &a2}}) {
      AdapterLinears single(model->weights, Precision::F32, {{0, p.rows, p.adapter}});
      single.forward(&alone[p.first * out], &x[p.first * C], role, 1, p.rows, scratch);
    }
    EXPECT_LT(max_abs_diff(together, alone), 1e-5f) << "role " << static_cast<int>(role);
  }
}

}  // namespace
}  // namespace frugal
