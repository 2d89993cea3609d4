// QLoRA: the 4-bit base in the training pass equals LoRA over the dequantized weights, forward and
// backward; the resident bytes of the base are what the 4-bit format promises.
#include <gtest/gtest.h>

#include <random>

#include "io/export_model.h"
#include "model/model.h"
#include "model/training_pass.h"
#include "lora_test_util.h"
#include "test_paths.h"

namespace frugal {
namespace {

std::unique_ptr<Model> stories() {
  return load_model(test::shared_data("stories260K/stories260K.bin"), test::shared_data("stories260K/tok512.bin"));
}

Batch batch() {
  Batch b;
  b.B = 1;
  b.T = 8;
  b.tokens = {1, 403, 407, 261, 378, 432, 383, 286};
  b.positions = {0, 1, 2, 3, 4, 5, 6, 7};
  b.segments = std::vector<int32_t>(8, 0);
  b.targets = {403, 407, 261, 378, 432, 383, 286, kIgnoreTarget};
  return b;
}

TEST(QLora, EqualsLoraOverTheDequantizedWeights) {
  for (Quant4Type type : {Quant4Type::kNf4, Quant4Type::kFp4}) {
    auto quantized = stories();
    quantize_linear_weights(quantized->weights, type, true);
    // The reference: the same values in plain fp32 matrices.
    auto reference = stories();
    for (int64_t l = 0; l < reference->config.n_layers; ++l)
      for (WeightRole r : parse_lora_targets("all-linear")) {
        const Matrix& q = linear_weight(quantized->weights, r, l);
        ASSERT_TRUE(q.q4 && q.data.empty());
        linear_weight(reference->weights, r, l).data.resize(static_cast<size_t>(q.rows * q.cols));
        q.q4->dequantize(linear_weight(reference->weights, r, l).data.data());
      }
    LoraAdapter a1 = test::random_lora(quantized->config, 0.05f, 5), a2 = test::random_lora(reference->config, 0.05f, 5);
    TrainingPass p1(*quantized, &a1, {Precision::F32, false, false});
    TrainingPass p2(*reference, &a2, {Precision::F32, false, false});
    p1.zero_grad();
    p2.zero_grad();
    const double l1 = p1.forward_backward(batch(), 1.0f / 7, 0).loss_sum;
    const double l2 = p2.forward_backward(batch(), 1.0f / 7, 0).loss_sum;
    EXPECT_EQ(l1, l2);
    EXPECT_EQ(p1.lora_grads(), p2.lora_grads());
    // And it is a different model from the unquantized one.
    auto original = stories();
    LoraAdapter a3 = test::random_lora(original->config, 0.05f, 5);
    TrainingPass p3(*original, &a3, {Precision::F32, false, false});
    EXPECT_NE(p3.evaluate(batch()).loss_sum, l1);
  }
}

TEST(QLora, BaseBytesPerParameter) {
  auto model = stories();
  int64_t params = 0;
  for (const LayerWeights& l : model->weights.layers)
    for (const Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) params += m->rows * m->cols;
  EXPECT_EQ(linear_weight_bytes(model->weights), params * 4);
  quantize_linear_weights(model->weights, Quant4Type::kNf4, true);
  const double dq = static_cast<double>(linear_weight_bytes(model->weights)) / static_cast<double>(params);
  EXPECT_LE(dq, 0.52);  // 4 bits + 8/64 + 32/(64*256) bits, plus one offset per matrix
  auto plain = stories();
  quantize_linear_weights(plain->weights, Quant4Type::kNf4, false);
  EXPECT_NEAR(static_cast<double>(linear_weight_bytes(plain->weights)) / static_cast<double>(params), 0.5 + 4.0 / 64, 1e-3);
}

}  // namespace
}  // namespace frugal

namespace frugal {
namespace {

// Quantizing while loading (one matrix at a time, for bases whose fp32 copy would not fit) gives the
// very codes, scales and other weights that loading whole and then quantizing does: GGUF (with its
// Q/K row permutation) and a Hugging Face folder.
TEST(QLora, QuantizingWhileLoadingEqualsQuantizingAfter) {
  const std::string gguf = std::string(::testing::TempDir()) + "frugal_qlora_load.gguf";
  export_gguf(*stories(), gguf, ExportDtype::F32);
  for (const std::string& path : {gguf, test::fixture("stories260k_hf/f32_sharded")}) {
    auto after = load_model(path);
    quantize_linear_weights(after->weights, Quant4Type::kNf4, true);
    LoadOptions options;
    options.quantize_linears = LinearQuantization{Quant4Type::kNf4, true};
    auto during = load_model(path, "", options);
    for (int64_t l = 0; l < after->config.n_layers; ++l)
      for (WeightRole r : parse_lora_targets("all-linear")) {
        const Matrix& a = linear_weight(after->weights, r, l);
        const Matrix& d = linear_weight(during->weights, r, l);
        ASSERT_TRUE(d.q4 && d.data.empty()) << path;
        EXPECT_EQ(d.q4->packed, a.q4->packed) << path << " layer " << l;
        EXPECT_EQ(d.q4->scales.codes, a.q4->scales.codes) << path << " layer " << l;
        EXPECT_EQ(d.q4->scales.nested_absmax, a.q4->scales.nested_absmax) << path << " layer " << l;
        EXPECT_EQ(d.q4->scales.offset, a.q4->scales.offset) << path << " layer " << l;
      }
    EXPECT_EQ(during->weights.token_embedding.data, after->weights.token_embedding.data);
    EXPECT_EQ(during->weights.layers[2].attn_norm, after->weights.layers[2].attn_norm);
  }
}

}  // namespace
}  // namespace frugal
