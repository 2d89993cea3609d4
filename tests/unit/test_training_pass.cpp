// Gradients of the whole training pass (and of each op through it) against central differences
// of the loss, on the real stories260K model: LoRA gradients, full fine-tuning gradients, and the
// equivalences the trainer relies on (checkpointing, packing, batch composition).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "model/model.h"
#include "infer/session.h"
#include "model/training_pass.h"
#include "lora_test_util.h"
#include "test_paths.h"

namespace frugal {
namespace {

std::unique_ptr<Model> stories() {
  return load_model(test::data_file("stories260K/stories260K.bin"), test::data_file("stories260K/tok512.bin"));
}

// Two rows of 7: row 0 packs two samples (4 + 3 tokens), row 1 holds one sample of 5 and 2 pads.
Batch small_batch() {
  Batch b;
  b.B = 2;
  b.T = 7;
  b.tokens = {1, 403, 407, 261, 1, 385, 300, 1, 403, 410, 317, 407, 0, 0};
  b.segments = {0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, -1, -1};
  b.positions = {0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 3, 4, 0, 0};
  b.targets = {403, 407, 261, kIgnoreTarget, 385, 300, kIgnoreTarget, 403, 410, 317, 407, kIgnoreTarget,
               kIgnoreTarget, kIgnoreTarget};
  return b;
}

double loss_of(TrainingPass& pass, const Batch& b) { return pass.evaluate(b).loss_sum; }

// Central difference of the summed loss w.r.t. *p.
double numeric_grad(TrainingPass& pass, const Batch& b, float* p, float eps) {
  const float saved = *p;
  *p = saved + eps;
  const double up = loss_of(pass, b);
  *p = saved - eps;
  const double down = loss_of(pass, b);
  *p = saved;
  return (up - down) / (2.0 * eps);
}

// The loss is computed in fp32, so it carries rounding noise of about 1e-5 absolute (a sum of
// nine token losses near 3); divided by 2*eps that is a floor of about 5e-4 on one entry's
// numeric derivative, hence the absolute term. The directional test below has no such floor.
void expect_close(double analytic, double numeric, const std::string& what) {
  const double tol = 2e-2 * std::abs(numeric) + 5e-4;
  EXPECT_NEAR(analytic, numeric, tol) << what;
}

// Directional derivative along a random direction v over many parameters at once:
// (L(p + v) - L(p - v)) / 2 must equal g . v. Summing thousands of entries lifts the signal far
// above the fp32 noise, so this checks every gradient entry's contribution tightly. The step is
// small because the central difference still carries a cubic term: measured here, the mismatch
// falls from 8% at sigma 4e-3 to 2% at 2e-3 and below 1% at 1e-3, as sigma^2 (not a gradient bug).
void expect_directional(TrainingPass& pass, const Batch& b, std::vector<std::pair<float*, float>> params,
                        const std::string& what, float sigma = 5e-4f) {
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(params.size());
  double analytic = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    v[i] = dist(rng);
    analytic += static_cast<double>(params[i].second) * v[i];
  }
  std::vector<float> saved(params.size());
  for (size_t i = 0; i < params.size(); ++i) saved[i] = *params[i].first;
  for (size_t i = 0; i < params.size(); ++i) *params[i].first = saved[i] + v[i];
  const double up = loss_of(pass, b);
  for (size_t i = 0; i < params.size(); ++i) *params[i].first = saved[i] - v[i];
  const double down = loss_of(pass, b);
  for (size_t i = 0; i < params.size(); ++i) *params[i].first = saved[i];
  const double numeric = (up - down) / 2.0;
  EXPECT_NEAR(analytic, numeric, 1e-2 * std::abs(numeric)) << what;
}

// (parameter, its gradient) for every LoRA value, or every weight of a full fine-tune.
std::vector<std::pair<float*, float>> lora_pairs(LoraAdapter& adapter, TrainingPass& pass) {
  std::vector<std::pair<float*, float>> all;
  for (size_t i = 0; i < adapter.values.size(); ++i) all.push_back({&adapter.values[i], pass.lora_grads()[i]});
  return all;
}

std::vector<std::pair<float*, float>> weight_pairs(const LlamaConfig& c, LlamaWeights& w, LlamaWeights& g) {
  std::vector<std::pair<float*, float>> all;
  std::vector<WeightSlot> ws = weight_slots(c, w), gs = weight_slots(c, g);
  for (size_t s = 0; s < ws.size(); ++s)
    for (int64_t i = 0; i < ws[s].rows * ws[s].cols; ++i) all.push_back({ws[s].data + i, gs[s].data[i]});
  return all;
}

TEST(TrainingPass, LoraGradientsMatchCentralDifferences) {
  auto model = stories();
  LoraAdapter adapter = test::random_lora(model->config, 0.1f, 3);
  TrainingPass pass(*model, &adapter, {Precision::F32, false, false});
  const Batch b = small_batch();
  pass.zero_grad();
  CrossEntropyResult r = pass.forward_backward(b, 1.0f, 0);
  EXPECT_EQ(r.count, 9);
  EXPECT_NEAR(r.loss_sum, loss_of(pass, b), 1e-4);
  std::mt19937 rng(7);
  int checked = 0;
  for (const LoraLayer& l : adapter.layers) {
    if (l.layer % 2) continue;  // a sample of layers keeps the test fast
    for (bool is_b : {false, true}) {
      const size_t n = static_cast<size_t>(is_b ? l.out * 4 : 4 * l.in);
      const size_t i = std::uniform_int_distribution<size_t>(0, n - 1)(rng);
      float* p = (is_b ? adapter.b(l) : adapter.a(l)) + i;
      const double analytic = pass.lora_grads()[(is_b ? l.b_offset : l.a_offset) + i];
      expect_close(analytic, numeric_grad(pass, b, p, 1e-2f),
                   "layer " + std::to_string(l.layer) + " role " + std::to_string(static_cast<int>(l.role)) +
                       (is_b ? " B" : " A"));
      ++checked;
    }
  }
  EXPECT_GE(checked, 20);
  expect_directional(pass, b, lora_pairs(adapter, pass), "all LoRA parameters");
}

TEST(TrainingPass, FullFinetuneGradientsMatchCentralDifferences) {
  auto model = stories();
  TrainingPass pass(*model, nullptr, {Precision::F32, false, true});
  const Batch b = small_batch();
  pass.zero_grad();
  pass.forward_backward(b, 1.0f, 0);
  LlamaWeights& g = pass.full_grads();
  LlamaWeights& w = model->weights;
  struct Probe {
    std::string name;
    float* value;
    float grad;
  };
  std::vector<Probe> probes = {
      {"embedding[403][5]", &w.token_embedding.data[403 * 64 + 5], g.token_embedding.data[403 * 64 + 5]},
      {"output_norm[3]", &w.output_norm[3], g.output_norm[3]},
      {"attn_norm L1[7]", &w.layers[1].attn_norm[7], g.layers[1].attn_norm[7]},
      {"ffn_norm L4[60]", &w.layers[4].ffn_norm[60], g.layers[4].ffn_norm[60]},
      {"wq L0", &w.layers[0].wq.data[100], g.layers[0].wq.data[100]},
      {"wk L2", &w.layers[2].wk.data[33], g.layers[2].wk.data[33]},
      {"wv L3", &w.layers[3].wv.data[900], g.layers[3].wv.data[900]},
      {"wo L4", &w.layers[4].wo.data[2000], g.layers[4].wo.data[2000]},
      {"gate L1", &w.layers[1].gate.data[5000], g.layers[1].gate.data[5000]},
      {"up L2", &w.layers[2].up.data[77], g.layers[2].up.data[77]},
      {"down L0", &w.layers[0].down.data[4321], g.layers[0].down.data[4321]},
  };
  for (const Probe& p : probes) expect_close(p.grad, numeric_grad(pass, b, p.value, 1e-2f), p.name);
  // Every weight of the model at once.
  expect_directional(pass, b, weight_pairs(model->config, w, g), "all weights");
}

TEST(TrainingPass, CheckpointingGivesTheSameGradients) {
  auto model = stories();
  LoraAdapter adapter = test::random_lora(model->config, 0.1f, 3);
  adapter.config.dropout = 0.1f;
  const Batch b = small_batch();
  TrainingPass plain(*model, &adapter, {Precision::F32, false, false});
  TrainingPass ckpt(*model, &adapter, {Precision::F32, true, false});
  plain.zero_grad();
  ckpt.zero_grad();
  const double l1 = plain.forward_backward(b, 0.5f, 1234).loss_sum;
  const double l2 = ckpt.forward_backward(b, 0.5f, 1234).loss_sum;
  EXPECT_EQ(l1, l2);
  EXPECT_EQ(plain.lora_grads(), ckpt.lora_grads());  // same code, same order: bit-identical
}

TEST(TrainingPass, PackedRowEqualsSeparateRows) {
  // Packing two samples in one row must give the same loss and gradients as two padded rows.
  auto model = stories();
  LoraAdapter adapter = test::random_lora(model->config, 0.1f, 3);
  Batch packed;
  packed.B = 1;
  packed.T = 7;
  packed.tokens = {1, 403, 407, 261, 1, 385, 300};
  packed.segments = {0, 0, 0, 0, 1, 1, 1};
  packed.positions = {0, 1, 2, 3, 0, 1, 2};
  packed.targets = {403, 407, 261, kIgnoreTarget, 385, 300, kIgnoreTarget};
  Batch rows;
  rows.B = 2;
  rows.T = 4;
  rows.tokens = {1, 403, 407, 261, 1, 385, 300, 0};
  rows.segments = {0, 0, 0, 0, 0, 0, 0, -1};
  rows.positions = {0, 1, 2, 3, 0, 1, 2, 0};
  rows.targets = {403, 407, 261, kIgnoreTarget, 385, 300, kIgnoreTarget, kIgnoreTarget};
  TrainingPass a(*model, &adapter, {Precision::F32, false, false});
  TrainingPass c(*model, &adapter, {Precision::F32, false, false});
  a.zero_grad();
  c.zero_grad();
  const double la = a.forward_backward(packed, 1.0f, 0).loss_sum;
  const double lc = c.forward_backward(rows, 1.0f, 0).loss_sum;
  EXPECT_NEAR(la, lc, 1e-4);
  double max_diff = 0, max_grad = 0;
  for (size_t i = 0; i < a.lora_grads().size(); ++i) {
    max_diff = std::max<double>(max_diff, std::abs(a.lora_grads()[i] - c.lora_grads()[i]));
    max_grad = std::max<double>(max_grad, std::abs(a.lora_grads()[i]));
  }
  EXPECT_LT(max_diff, 1e-5 * std::max(1.0, max_grad));
}

TEST(TrainingPass, Bf16GradientsStayCloseToFp32) {
  auto model = stories();
  LoraAdapter adapter = test::random_lora(model->config, 0.1f, 3);
  const Batch b = small_batch();
  TrainingPass f32(*model, &adapter, {Precision::F32, false, false});
  TrainingPass bf16(*model, &adapter, {Precision::BF16, false, false});
  f32.zero_grad();
  bf16.zero_grad();
  f32.forward_backward(b, 1.0f, 0);
  bf16.forward_backward(b, 1.0f, 0);
  double num = 0, den = 0;
  for (size_t i = 0; i < f32.lora_grads().size(); ++i) {
    const double d = f32.lora_grads()[i] - bf16.lora_grads()[i];
    num += d * d;
    den += static_cast<double>(f32.lora_grads()[i]) * f32.lora_grads()[i];
  }
  EXPECT_LT(std::sqrt(num / den), 0.05);  // relative norm error of the whole gradient
}

}  // namespace
}  // namespace frugal

namespace frugal {
namespace {

// stories260K with every architecture feature of the families switched on at once (Qwen2's
// biases, Qwen3/Gemma's q/k norms, Gemma 3's post-norms, GeGLU, embedding and attention scales,
// sliding windows with a local RoPE base, Llama 3's frequency factors), the new weights random so
// that a backward pass that skipped one of them would show.
std::unique_ptr<Model> stories_with_every_feature() {
  auto m = stories();
  LlamaConfig& c = m->config;
  c.qkv_bias = c.qk_norm = c.post_norms = true;
  c.activation = MlpActivation::GeluTanh;
  c.embedding_scale = 1.7f;
  c.attention_scale = 0.3f;
  c.sliding_window = 3;  // the batch's samples are 3 to 5 tokens long
  c.sliding_window_pattern = 2;
  c.rope_local_theta = 500.0f;
  c.rope_scaling.freq_divisors = {1.0, 1.5, 3.0, 8.0};  // head_dim 8
  // YaRN on top: cos and sin scaled by its attention factor (about 1.14), which the backward must carry.
  c.rope_scaling.type = RopeType::Yarn, c.rope_scaling.factor = 4, c.rope_scaling.original_context = 4;
  std::mt19937 rng(5);
  std::normal_distribution<float> noise(0.0f, 0.1f);
  const auto fill = [&](std::vector<float>& v, int64_t n, float base) {
    v.resize(static_cast<size_t>(n));
    for (float& x : v) x = base + noise(rng);
  };
  for (LayerWeights& l : m->weights.layers) {
    fill(l.bq, c.q_dim(), 0), fill(l.bk, c.kv_dim(), 0), fill(l.bv, c.kv_dim(), 0);
    fill(l.q_norm, c.head_dim, 1), fill(l.k_norm, c.head_dim, 1);
    fill(l.post_attn_norm, c.dim, 1), fill(l.post_ffn_norm, c.dim, 1);
  }
  c.validate("test");
  return m;
}

TEST(TrainingPass, EveryFeatureLoraGradientsMatchCentralDifferences) {
  auto model = stories_with_every_feature();
  LoraAdapter adapter = test::random_lora(model->config, 0.1f, 3);
  TrainingPass pass(*model, &adapter, {Precision::F32, false, false});
  const Batch b = small_batch();
  pass.zero_grad();
  EXPECT_NEAR(pass.forward_backward(b, 1.0f, 0).loss_sum, loss_of(pass, b), 1e-4);
  expect_directional(pass, b, lora_pairs(adapter, pass), "all LoRA parameters");
}

TEST(TrainingPass, EveryFeatureFullFinetuneGradientsMatchCentralDifferences) {
  auto model = stories_with_every_feature();
  TrainingPass pass(*model, nullptr, {Precision::F32, false, true});
  const Batch b = small_batch();
  pass.zero_grad();
  pass.forward_backward(b, 1.0f, 0);
  LlamaWeights& g = pass.full_grads();
  LlamaWeights& w = model->weights;
  // One entry of each new weight on its own, then every weight along one direction.
  struct Probe {
    std::string name;
    float* value;
    float grad;
  };
  std::vector<Probe> probes = {
      {"embedding[403][5]", &w.token_embedding.data[403 * 64 + 5], g.token_embedding.data[403 * 64 + 5]},
      {"q_norm L0[3]", &w.layers[0].q_norm[3], g.layers[0].q_norm[3]},
      {"k_norm L1[6]", &w.layers[1].k_norm[6], g.layers[1].k_norm[6]},
      {"post_attn_norm L2[9]", &w.layers[2].post_attn_norm[9], g.layers[2].post_attn_norm[9]},
      {"post_ffn_norm L3[40]", &w.layers[3].post_ffn_norm[40], g.layers[3].post_ffn_norm[40]},
      {"bq L4[5]", &w.layers[4].bq[5], g.layers[4].bq[5]},
      {"gate L1", &w.layers[1].gate.data[5000], g.layers[1].gate.data[5000]},
  };
  for (const Probe& p : probes) expect_close(p.grad, numeric_grad(pass, b, p.value, 1e-2f), p.name);
  expect_directional(pass, b, weight_pairs(model->config, w, g), "all weights");
}

TEST(TrainingPass, EveryFeatureCheckpointingGivesTheSameGradients) {
  auto model = stories_with_every_feature();
  LoraAdapter adapter = test::random_lora(model->config, 0.1f, 3);
  adapter.config.dropout = 0.1f;
  const Batch b = small_batch();
  TrainingPass plain(*model, &adapter, {Precision::F32, false, false});
  TrainingPass ckpt(*model, &adapter, {Precision::F32, true, false});
  plain.zero_grad();
  ckpt.zero_grad();
  EXPECT_EQ(plain.forward_backward(b, 0.5f, 99).loss_sum, ckpt.forward_backward(b, 0.5f, 99).loss_sum);
  EXPECT_EQ(plain.lora_grads(), ckpt.lora_grads());
}

// The inference session (KV cache; prompt in one call, then token by token through the decode
// kernel) computes the same block as the training pass: the same loss over one sequence longer
// than the sliding window.
TEST(TrainingPass, EveryFeatureInferenceSessionMatchesTrainingPass) {
  auto model = stories_with_every_feature();
  const std::vector<int32_t> ids = {1, 403, 407, 261, 385, 300, 410, 317, 407};
  const int64_t T = static_cast<int64_t>(ids.size());
  Batch b;
  b.B = 1;
  b.T = T;
  b.tokens = ids;
  b.segments.assign(ids.size(), 0);
  for (int64_t t = 0; t < T; ++t) b.positions.push_back(static_cast<int32_t>(t));
  for (int64_t t = 0; t < T; ++t) b.targets.push_back(t + 1 < T ? ids[t + 1] : kIgnoreTarget);
  LoraConfig lc;
  lc.targets = parse_lora_targets("all-linear");
  LoraAdapter adapter = LoraAdapter::create(model->config, lc);  // B = 0: the base model
  TrainingPass pass(*model, &adapter, {Precision::F32, false, false});
  const double train_loss = pass.evaluate(b).loss_sum;
  for (int64_t prompt : {T, int64_t{3}}) {  // all at once; or 3 tokens, then one at a time
    InferenceSession session(*model, T, Precision::F32);
    const int64_t V = model->config.vocab_size;
    std::vector<float> logits(static_cast<size_t>(T * V));
    const std::vector<float>& first = session.forward(ids.data(), prompt, true);
    std::copy(first.begin(), first.begin() + prompt * V, logits.begin());
    for (int64_t t = prompt; t < T; ++t) {
      const std::vector<float>& row = session.forward(&ids[t], 1, false);
      std::copy(row.begin(), row.begin() + V, logits.begin() + t * V);
    }
    double loss = 0;
    for (int64_t t = 0; t + 1 < T; ++t) {
      const float* row = &logits[t * V];
      double mx = -1e30, sum = 0;
      for (int64_t i = 0; i < V; ++i) mx = std::max<double>(mx, row[i]);
      for (int64_t i = 0; i < V; ++i) sum += std::exp(row[i] - mx);
      loss += mx + std::log(sum) - row[ids[t + 1]];
    }
    EXPECT_NEAR(loss, train_loss, 1e-3) << "prompt of " << prompt;
  }
}

}  // namespace
}  // namespace frugal
