// QLoRA: the 4-bit base in the training pass equals LoRA over the dequantized weights, forward and
// backward; the resident bytes of the base are what the 4-bit format promises.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <tuple>

#include "io/export_model.h"
#include "model/model.h"
#include "model/training_pass.h"
#include "train/train_plan.h"
#include "train/train_config.h"
#include "lora_test_util.h"
#include "run_frugal.h"
#include "test_paths.h"

namespace frugal {
namespace {

std::unique_ptr<Model> stories() {
  return load_model(test::data_file("stories260K/stories260K.bin"), test::data_file("stories260K/tok512.bin"));
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

// A LoRA pass over a compact base equals, bit for bit, one over plain fp32 matrices holding the
// dequantized values, forward (loss) and backward (adapter gradients).
void expect_equals_lora_over_dequantized(std::unique_ptr<Model> compact, const std::string& what) {
  auto reference = stories();
  for (int64_t l = 0; l < reference->config.n_layers; ++l)
    for (WeightRole r : parse_lora_targets("all-linear")) {
      const Matrix& q = linear_weight(compact->weights, r, l);
      ASSERT_TRUE(q.compact() && q.data.empty()) << what;
      linear_weight(reference->weights, r, l).data.resize(static_cast<size_t>(q.rows * q.cols));
      q.dequantize_into(linear_weight(reference->weights, r, l).data.data());
    }
  LoraAdapter a1 = test::random_lora(compact->config, 0.05f, 5), a2 = test::random_lora(reference->config, 0.05f, 5);
  TrainingPass p1(*compact, &a1, {Precision::F32, false, false});
  TrainingPass p2(*reference, &a2, {Precision::F32, false, false});
  p1.zero_grad();
  p2.zero_grad();
  const double l1 = p1.forward_backward(batch(), 1.0f / 7, 0).loss_sum;
  const double l2 = p2.forward_backward(batch(), 1.0f / 7, 0).loss_sum;
  EXPECT_EQ(l1, l2) << what;
  EXPECT_EQ(p1.lora_grads(), p2.lora_grads()) << what;
  // And it is a different model from the unquantized one.
  auto original = stories();
  LoraAdapter a3 = test::random_lora(original->config, 0.05f, 5);
  TrainingPass p3(*original, &a3, {Precision::F32, false, false});
  EXPECT_NE(p3.evaluate(batch()).loss_sum, l1) << what;
}

TEST(QLora, EqualsLoraOverTheDequantizedWeights) {
  for (Quant4Type type : {Quant4Type::kNf4, Quant4Type::kFp4}) {
    auto quantized = stories();
    quantize_linear_weights(quantized->weights, type, true);
    expect_equals_lora_over_dequantized(std::move(quantized), type == Quant4Type::kNf4 ? "nf4" : "fp4");
  }
}

// load_in_8bit: int8 rows with one absmax each.
TEST(QLora, Int8BaseEqualsLoraOverTheDequantizedWeights) {
  LoadOptions options;
  options.quantize_linears = LinearQuantization{};
  options.quantize_linears->int8 = true;
  auto model = load_model(test::data_file("stories260K/stories260K.bin"), test::data_file("stories260K/tok512.bin"), options);
  ASSERT_TRUE(model->weights.layers[0].wq.packed);
  EXPECT_EQ(model->weights.layers[0].wq.packed->type_name(), "int8 (per row)");
  expect_equals_lora_over_dequantized(std::move(model), "int8");
}

// keep_gguf_quantization: a Q8_0 GGUF base (F16 where rows are not a multiple of 32) trained on as
// stored equals the same file dequantized at load, the Q/K rows permuted as blocks.
TEST(QLora, KeptGgufTypesEqualTheFileDequantizedAtLoad) {
  const std::string path = std::string(::testing::TempDir()) + "frugal_qlora_q8.gguf";
  export_gguf(*stories(), path, ExportDtype::Q8_0);
  LoadOptions keep;
  keep.keep_gguf_types = true;
  auto kept = load_model(path, "", keep);
  auto plain = load_model(path);
  EXPECT_EQ(kept->weights.layers[1].wq.packed->type_name(), "Q8_0");
  EXPECT_EQ(kept->weights.layers[1].down.packed->type_name(), "F16");  // 172 columns
  for (int64_t l = 0; l < plain->config.n_layers; ++l)
    for (WeightRole r : parse_lora_targets("all-linear")) {
      const Matrix& k = linear_weight(kept->weights, r, l);
      std::vector<float> expanded(static_cast<size_t>(k.rows * k.cols));
      k.dequantize_into(expanded.data());
      EXPECT_EQ(expanded, linear_weight(plain->weights, r, l).data) << "layer " << l;
    }
  LoraAdapter a1 = test::random_lora(kept->config, 0.05f, 5), a2 = test::random_lora(plain->config, 0.05f, 5);
  TrainingPass p1(*kept, &a1, {Precision::F32, false, false});
  TrainingPass p2(*plain, &a2, {Precision::F32, false, false});
  p1.zero_grad();
  p2.zero_grad();
  EXPECT_EQ(p1.forward_backward(batch(), 1.0f / 7, 0).loss_sum, p2.forward_backward(batch(), 1.0f / 7, 0).loss_sum);
  EXPECT_EQ(p1.lora_grads(), p2.lora_grads());
  EXPECT_LT(linear_weight_bytes(kept->weights), linear_weight_bytes(plain->weights) / 3);
}

TEST(QLora, CompactBaseSettingsAreChecked) {
  const std::string hf = test::fixture("stories260k_hf/f32_sharded");
  const std::string base = "train --base_model " + hf + " --dataset x.jsonl --output_dir " +
                           std::string(::testing::TempDir()) + "frugal_qlora_settings";
  for (const auto& [options, message] :
       {std::pair{" --method full --load_in_8bit true", "load_in_8bit: a compact base is frozen: use method: lora"},
        std::pair{" --load_in_4bit true --load_in_8bit true", "choose one of load_in_4bit, load_in_8bit"},
        std::pair{" --keep_gguf_quantization true", "keep_gguf_quantization: the base model is not a GGUF file"}}) {
    test::RunResult r = test::run_frugal(base + options);
    EXPECT_EQ(r.exit_code, 1) << options;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
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

namespace frugal {
namespace {

// A folder bitsandbytes saved quantized (the Unsloth "-bnb-4bit" workflow) is a QLoRA base as it
// stands: LoRA trains over the stored 4 or 8 bits, the plan counts them as such, and full
// fine-tuning (which would need full-precision weights) or a request for the other bits is refused
// in one line before loading.
TEST(QLora, BitsandbytesFoldersAreQLoraBasesAsSaved) {
  const std::string data = std::string(::testing::TempDir()) + "frugal_qlora_prequantized_" +
                           std::to_string(::getpid()) + ".jsonl";
  {
    std::ofstream out(data);
    for (int i = 0; i < 16; ++i) out << R"({"text": "Once upon a time there was a little girl named Lily. She liked the park."})" << "\n";
  }
  for (const auto& [folder, dtype, double_quant] :
       {std::tuple{"bnb_4bit/stories260k_nf4_dq", Dtype::NF4, true}, std::tuple{"bnb_4bit/stories260k_fp4", Dtype::FP4, false},
        std::tuple{"bnb_int8/stories260k_int8", Dtype::Int8, false}}) {
    TrainConfig c;
    c.base_model = test::fixture(folder);
    const PlanInputs in = plan_inputs_from_train_config(c, model_shape_from_file(c.base_model));
    EXPECT_EQ(in.method, Method::Qlora) << folder;
    EXPECT_EQ(in.weights_dtype, dtype) << folder;
    EXPECT_EQ(in.double_quant, double_quant) << folder;

    const std::string out_dir = std::string(::testing::TempDir()) + "frugal_qlora_prequantized_out_" + std::to_string(::getpid());
    const std::string args = "train --base_model " + c.base_model + " --dataset " + data +
                             " --dataset_format text --sequence_len 32 --micro_batch_size 2 --max_steps 2 --val_set_size 0"
                             " --threads 1 --output_dir " + out_dir;
    test::RunResult lora = test::run_frugal(args);
    EXPECT_EQ(lora.exit_code, 0) << folder << ": " << lora.err;
    EXPECT_TRUE(std::filesystem::exists(out_dir + "/adapter/adapter_model.safetensors")) << folder;
    std::filesystem::remove_all(out_dir);
    for (const std::string& extra : {std::string(" --method full"), std::string(" --method full --plan-only")}) {
      test::RunResult full = test::run_frugal(args + extra);
      EXPECT_EQ(full.exit_code, 1) << folder << extra;
      EXPECT_NE(full.err.find("method: full: bitsandbytes saved this model's linear weights quantized"), std::string::npos)
          << full.err;
      EXPECT_EQ(std::count(full.err.begin(), full.err.end(), '\n'), 1) << full.err;
      EXPECT_FALSE(std::filesystem::exists(out_dir + "/checkpoint-1")) << folder;
    }
    const std::string other_bits = dtype == Dtype::Int8 ? " --load_in_4bit true" : " --load_in_8bit true";
    test::RunResult mismatch = test::run_frugal(args + other_bits);
    EXPECT_EQ(mismatch.exit_code, 1) << folder;
    EXPECT_NE(mismatch.err.find("bits and they are trained over as stored: drop the setting"), std::string::npos)
        << mismatch.err;
    EXPECT_EQ(std::count(mismatch.err.begin(), mismatch.err.end(), '\n'), 1) << mismatch.err;
    const std::string same_bits = dtype == Dtype::Int8 ? " --load_in_8bit true" : " --load_in_4bit true";
    EXPECT_EQ(test::run_frugal(args + same_bits + " --max_steps 1").exit_code, 0) << folder;
    std::filesystem::remove_all(out_dir);
  }
  std::remove(data.c_str());
}

}  // namespace
}  // namespace frugal
