// GGUF LoRA adapters as llama.cpp loads them: metadata, names, ggml shapes, alpha folded for rsLoRA,
// A stored as is and B rows of Q/K in the base GGUF's (Meta) order. The decisive check: applying the
// file's tensors to the exported base GGUF's weights, as llama.cpp does, gives the Meta-order image
// of our HF-order merge.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>

#include "core/error.h"
#include "io/export_model.h"
#include "format/gguf.h"
#include "io/gguf_lora.h"
#include "format/gguf_writer.h"
#include "io/peft_adapter.h"
#include "io/tensor_names.h"
#include "model/model.h"
#include "test_paths.h"

namespace frugal {
namespace {

std::string temp(const std::string& name) { return std::string(::testing::TempDir()) + "frugal_export_" + name; }

std::unique_ptr<Model> stories() {
  return load_model(test::data_file("stories260K/stories260K.bin"), test::data_file("stories260K/tok512.bin"));
}

LoraAdapter trained_adapter(const LlamaConfig& model, bool rslora) {
  LoraConfig cfg;
  cfg.r = 4;
  cfg.alpha = 8.0f;
  cfg.use_rslora = rslora;
  cfg.targets = parse_lora_targets("all-linear");
  LoraAdapter a = LoraAdapter::create(model, cfg);
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 0.2f);
  for (const LoraLayer& l : a.layers)
    for (int64_t i = 0; i < l.out * cfg.r; ++i) a.b(l)[i] = dist(rng);
  return a;
}

std::vector<float> floats(const GgufTensorInfo& t) {
  EXPECT_EQ(t.type, GgmlType::F32) << t.name;
  std::vector<float> v(static_cast<size_t>(t.elements()));
  std::memcpy(v.data(), t.data, v.size() * 4);
  return v;
}

TEST(GgufLora, MetadataNamesAndShapes) {
  auto model = stories();
  const LoraAdapter a = trained_adapter(model->config, false);
  const std::string path = temp("lora.gguf");
  write_gguf_lora(path, a, model->config, "stories-lora");
  GgufFile g(path);
  EXPECT_EQ(g.get_string("general.type"), "adapter");
  EXPECT_EQ(g.get_string("general.architecture"), "llama");
  EXPECT_EQ(g.get_string("general.name"), "stories-lora");
  EXPECT_EQ(g.get_string("adapter.type"), "lora");
  EXPECT_EQ(g.find("adapter.lora.alpha")->type, GgufValueType::FLOAT32);
  EXPECT_EQ(g.get_float("adapter.lora.alpha"), 8.0);
  EXPECT_EQ(g.tensors().size(), 2u * 7u * 5u);
  for (const LoraLayer& l : a.layers) {
    const std::string base = gguf_tensor_name(l.role, l.layer);
    const GgufTensorInfo* ta = g.find_tensor(base + ".lora_a");
    const GgufTensorInfo* tb = g.find_tensor(base + ".lora_b");
    ASSERT_TRUE(ta && tb) << base;
    EXPECT_EQ(ta->ne, (std::vector<int64_t>{l.in, 4})) << base;   // [in, r]
    EXPECT_EQ(tb->ne, (std::vector<int64_t>{4, l.out})) << base;  // [r, out]
    EXPECT_EQ(floats(*ta), std::vector<float>(a.a(l), a.a(l) + 4 * l.in)) << base << ": A is never permuted";
    std::vector<float> b(a.b(l), a.b(l) + l.out * 4);
    if (l.role == WeightRole::Wq) permute_rows_hf_to_meta(b.data(), l.out, 4, model->config.n_heads);
    if (l.role == WeightRole::Wk) permute_rows_hf_to_meta(b.data(), l.out, 4, model->config.n_kv_heads);
    EXPECT_EQ(floats(*tb), b) << base;
  }
  // Q/K B rows really moved (the check above would pass for an identity permutation otherwise).
  const LoraLayer& q = *a.find(WeightRole::Wq, 0);
  EXPECT_NE(floats(*g.find_tensor("blk.0.attn_q.weight.lora_b")), std::vector<float>(a.b(q), a.b(q) + 64 * 4));
}

TEST(GgufLora, RsLoraAlphaIsFoldedAndReadsBack) {
  auto model = stories();
  const LoraAdapter a = trained_adapter(model->config, true);
  const std::string path = temp("lora_rs.gguf");
  write_gguf_lora(path, a, model->config);
  GgufFile g(path);
  // llama.cpp scales by alpha / rank; rsLoRA's alpha / sqrt(r) = 8 / 2 = 4 needs alpha 16 with r 4.
  EXPECT_EQ(g.get_float("adapter.lora.alpha"), 16.0);
  EXPECT_EQ(gguf_lora_alpha(a.config), 16.0f);

  const LoraAdapter b = read_gguf_lora(path, model->config);
  EXPECT_EQ(b.config.r, 4);
  EXPECT_FALSE(b.config.use_rslora);
  EXPECT_EQ(b.config.alpha, 16.0f);
  EXPECT_EQ(b.config.scaling(), a.config.scaling());
  EXPECT_EQ(b.config.targets, a.config.targets);
  ASSERT_EQ(b.layers.size(), a.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    EXPECT_EQ(b.layers[i].role, a.layers[i].role);
    EXPECT_EQ(b.layers[i].layer, a.layers[i].layer);
    EXPECT_EQ(b.layers[i].a_offset, a.layers[i].a_offset);
    EXPECT_EQ(b.layers[i].b_offset, a.layers[i].b_offset);
  }
  EXPECT_EQ(b.values, a.values);  // B rows back in HF order

  // The same adapter as a PEFT folder and merged into an HF folder, for the outside checks
  // tests/reference/check_gguf_lora.py (--peft) and check_peft_adapter.py (--merged).
  write_peft_adapter(temp("lora_rs_peft"), a, model->config, "stories260K");
  LlamaWeights base = model->weights;
  merge_lora_into(model->weights, a);
  export_hf(*model, temp("lora_rs_merged_hf"), ExportDtype::F32);
  model->weights = std::move(base);
}

// llama.cpp computes W_gguf x + scale * B (A x) with W_gguf the base GGUF's tensor. Its effective
// weight W_gguf + scale * B A must be the Meta-order permutation of our merged HF-order weight.
TEST(GgufLora, AppliedToTheGgufBaseEqualsOurMergeInMetaOrder) {
  auto model = stories();
  const LoraAdapter a = trained_adapter(model->config, true);
  const std::string lora_path = temp("lora_apply.gguf"), base_path = temp("lora_base.gguf");
  write_gguf_lora(lora_path, a, model->config);
  export_gguf(*model, base_path, ExportDtype::F32);
  GgufFile lora(lora_path), base(base_path);
  const float scale = static_cast<float>(lora.get_float("adapter.lora.alpha")) / 4.0f;  // llama.cpp: alpha / b.ne[0]

  LlamaWeights merged = model->weights;
  merge_lora_into(merged, a);
  const LlamaConfig& c = model->config;
  for (WeightRole role : {WeightRole::Wq, WeightRole::Wk, WeightRole::Wv, WeightRole::Down})
    for (int64_t layer = 0; layer < c.n_layers; ++layer) {
      const std::string name = gguf_tensor_name(role, layer);
      std::vector<float> w = floats(*base.find_tensor(name));
      const std::vector<float> A = floats(*lora.find_tensor(name + ".lora_a")), B = floats(*lora.find_tensor(name + ".lora_b"));
      const GgufTensorInfo& t = *base.find_tensor(name);
      const int64_t in = t.ne[0], out = t.ne[1], r = 4;
      for (int64_t o = 0; o < out; ++o)
        for (int64_t k = 0; k < r; ++k)
          for (int64_t i = 0; i < in; ++i) w[o * in + i] += scale * B[o * r + k] * A[k * in + i];

      Matrix want = linear_weight(merged, role, layer);
      if (role == WeightRole::Wq) permute_rows_hf_to_meta(want.data.data(), want.rows, want.cols, c.n_heads);
      if (role == WeightRole::Wk) permute_rows_hf_to_meta(want.data.data(), want.rows, want.cols, c.n_kv_heads);
      double max_err = 0;
      for (size_t i = 0; i < w.size(); ++i) max_err = std::max<double>(max_err, std::abs(w[i] - want.data[i]));
      EXPECT_LT(max_err, 1e-6) << name;
    }
}

TEST(GgufLora, NeoxArchitecturesKeepHfRows) {
  auto model = stories();
  LlamaConfig qwen = model->config;
  qwen.architecture = "qwen2";
  const LoraAdapter a = trained_adapter(qwen, false);
  const std::string path = temp("lora_qwen2.gguf");
  write_gguf_lora(path, a, qwen);
  GgufFile g(path);
  EXPECT_EQ(g.get_string("general.architecture"), "qwen2");
  const LoraLayer& q = *a.find(WeightRole::Wq, 1);
  EXPECT_EQ(floats(*g.find_tensor("blk.1.attn_q.weight.lora_b")), std::vector<float>(a.b(q), a.b(q) + 64 * 4));
  EXPECT_EQ(read_gguf_lora(path, qwen).values, a.values);
}

void expect_read_error(const std::string& path, const LlamaConfig& model, const std::string& needle) {
  try {
    read_gguf_lora(path, model);
    ADD_FAILURE() << "no error for " << needle;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
}

TEST(GgufLora, ReaderRefusesWhatLlamaCppRefuses) {
  auto model = stories();
  const LlamaConfig& c = model->config;
  const std::string good = temp("lora_good.gguf");
  write_gguf_lora(good, trained_adapter(c, false), c);

  LlamaConfig qwen = c;
  qwen.architecture = "qwen2";
  expect_read_error(good, qwen, "general.architecture");
  LlamaConfig wider = c;
  wider.dim = 128;
  wider.head_dim = 16;
  expect_read_error(good, wider, "blk.0.attn_q.weight");
  const std::string model_path = temp("lora_not_an_adapter.gguf");
  export_gguf(*model, model_path, ExportDtype::F32);
  expect_read_error(model_path, c, "general.type");

  const auto write = [&](const std::string& name, const std::function<void(GgufWriter&)>& fill) {
    GgufWriter w;
    w.set_string("general.type", "adapter");
    w.set_string("general.architecture", "llama");
    w.set_string("adapter.type", "lora");
    fill(w);
    const std::string path = temp(name);
    w.write(path);
    return path;
  };
  expect_read_error(write("lora_unpaired.gguf", [](GgufWriter& w) {
                      w.add_tensor("blk.0.attn_v.weight.lora_a", {4, 64}, GgmlType::F32, std::vector<float>(256));
                    }),
                    c, "blk.0.attn_v.weight.lora_b");
  expect_read_error(write("lora_transposed.gguf", [](GgufWriter& w) {
                      w.add_tensor("blk.0.attn_v.weight.lora_a", {64, 4}, GgmlType::F32, std::vector<float>(256));
                      w.add_tensor("blk.0.attn_v.weight.lora_b", {32, 4}, GgmlType::F32, std::vector<float>(128));
                    }),
                    c, "expected lora_a [in, r]");
  expect_read_error(write("lora_suffix.gguf", [](GgufWriter& w) {
                      w.add_tensor("blk.0.attn_v.weight.lora_c", {4}, GgmlType::F32, std::vector<float>(4));
                    }),
                    c, "unexpected name");
  expect_read_error(write("lora_embd.gguf", [](GgufWriter& w) {
                      w.add_tensor("token_embd.weight.lora_a", {4, 512}, GgmlType::F32, std::vector<float>(2048));
                    }),
                    c, "embedding");
  // Without alpha llama.cpp uses scale 1; our reader says so with alpha = r.
  const std::string no_alpha = write("lora_no_alpha.gguf", [](GgufWriter& w) {
    w.add_tensor("blk.2.ffn_up.weight.lora_a", {2, 64}, GgmlType::F32, std::vector<float>(128, 0.5f));
    w.add_tensor("blk.2.ffn_up.weight.lora_b", {172, 2}, GgmlType::F16, std::vector<float>(344, 0.25f));
    w.add_tensor("blk.2.ffn_norm.weight", {64}, GgmlType::F32, std::vector<float>(64));  // skipped, as llama.cpp does
  });
  const LoraAdapter b = read_gguf_lora(no_alpha, c);
  EXPECT_EQ(b.config.r, 2);
  EXPECT_EQ(b.config.scaling(), 1.0f);
  ASSERT_EQ(b.layers.size(), 1u);
  EXPECT_EQ(b.b(b.layers[0])[5], 0.25f);
}

}  // namespace
}  // namespace frugal
