// bitsandbytes 4-bit Hugging Face checkpoints: folders written by transformers + bitsandbytes
// (tests/reference/make_bnb_4bit_fixtures.py) load in frugal straight into 4-bit matrices and give
// transformers' logits; frugal's writer reproduces bitsandbytes' file byte for byte; broken folders
// fail with one line naming the file, the tensor and the problem.
#include <gtest/gtest.h>

#include <cmath>
#include <deque>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "infer/session.h"
#include "io/bnb_4bit.h"
#include "io/export_model.h"
#include "format/safetensors.h"
#include "model/model.h"
#include "broken_folder.h"
#include "test_paths.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

const nlohmann::json& reference() {
  static const nlohmann::json j = [] {
    std::ifstream in(test::fixture("bnb_4bit/reference.json"));
    return nlohmann::json::parse(in);
  }();
  return j;
}

double max_logit_error(Model& model, Precision precision, const nlohmann::json& expected) {
  const std::vector<int32_t> tokens = reference()["tokens"];
  InferenceSession session(model, 32, precision);
  const std::vector<float>& logits = session.forward(tokens.data(), static_cast<int64_t>(tokens.size()), true);
  double max_err = 0;
  for (size_t t = 0; t < tokens.size(); ++t)
    for (int v = 0; v < 512; ++v) max_err = std::max(max_err, std::abs(logits[t * 512 + v] - expected[t][v].get<double>()));
  return max_err;
}

TEST(Bnb4bit, BitsandbytesFoldersLoadIn4BitAndMatchTransformers) {
  for (const char* name : {"stories260k_nf4_dq", "stories260k_fp4"}) {
    auto model = load_model(test::fixture(std::string("bnb_4bit/") + name));
    const bool nf4 = std::string(name).find("nf4") != std::string::npos;
    for (const LayerWeights& l : model->weights.layers)
      for (const Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) {
        ASSERT_TRUE(m->q4) << name;
        EXPECT_TRUE(m->data.empty());  // no fp32 copy
        EXPECT_EQ(m->q4->type, nf4 ? Quant4Type::kNf4 : Quant4Type::kFp4);
        EXPECT_EQ(m->q4->double_quant, nf4);
      }
    // transformers dequantizes to code * absmax as frugal does: fp32 agrees to fp32 rounding.
    // Everything in fp32: transformers dequantizes to code * absmax as frugal does.
    EXPECT_LT(max_logit_error(*model, Precision::F32, reference()[name]["f32"]), 1e-4) << name;
    // frugal's bf16 mode (bf16 matmul inputs, fp32 activations) against the same in transformers. NF4
    // agrees to 4e-6. This FP4 model is far more sensitive: a 1-ulp fp32 difference in attention flips
    // bf16 roundings downstream, and frugal's own prefill and decode kernels differ by up to 0.06 here.
    EXPECT_LT(max_logit_error(*model, Precision::BF16, reference()[name]["bf16_linear"]), nf4 ? 1e-2 : 0.1) << name;
    // transformers as users run a 4-bit checkpoint keeps the whole residual stream in bf16.
    EXPECT_LT(max_logit_error(*model, Precision::BF16, reference()[name]["bf16"]), 0.3) << name;
    std::printf("%s: max |logit error| f32 %.2g, bf16 matmuls %.2g, vs all-bf16 transformers %.2g\n", name,
                max_logit_error(*model, Precision::F32, reference()[name]["f32"]),
                max_logit_error(*model, Precision::BF16, reference()[name]["bf16_linear"]),
                max_logit_error(*model, Precision::BF16, reference()[name]["bf16"]));
  }
}

TEST(Bnb4bit, FrugalWritesBitsandbytesFilesByteForByte) {
  for (const auto& [name, type, dq] : {std::tuple{"stories260k_nf4_dq", Quant4Type::kNf4, true},
                                       std::tuple{"stories260k_fp4", Quant4Type::kFp4, false}}) {
    // From the same bf16 weights bitsandbytes quantized.
    auto model = load_model(test::fixture("stories260k_hf/bf16"));
    quantize_linear_weights(model->weights, type, dq);
    const fs::path out = fs::path(::testing::TempDir()) / (std::string("frugal_bnb_write_") + name);
    fs::remove_all(out);
    export_hf(*model, out.string(), ExportDtype::BF16);
    const std::string expected = test::read_file(test::fixture(std::string("bnb_4bit/") + name + "/model.safetensors"));
    ASSERT_FALSE(expected.empty());
    EXPECT_TRUE(test::read_file((out / "model.safetensors").string()) == expected) << name;
    // And what frugal read from bitsandbytes' folder writes back unchanged.
    auto read = load_model(test::fixture(std::string("bnb_4bit/") + name));
    fs::remove_all(out);
    export_hf(*read, out.string(), ExportDtype::BF16);
    EXPECT_TRUE(test::read_file((out / "model.safetensors").string()) == expected) << name;
    std::ifstream in(out / "config.json");
    const nlohmann::json config = nlohmann::json::parse(in);
    EXPECT_EQ(config["quantization_config"]["bnb_4bit_quant_type"], type == Quant4Type::kNf4 ? "nf4" : "fp4");
    EXPECT_EQ(config["quantization_config"]["bnb_4bit_use_double_quant"], dq);
    EXPECT_EQ(config["quantization_config"]["quant_method"], "bitsandbytes");
  }
}

TEST(Bnb4bit, QuantStateJsonIsPythonsJsonDumps) {
  EXPECT_EQ(python_float_repr(0.3285735249519348), "0.3285735249519348");
  EXPECT_EQ(python_float_repr(2.0), "2.0");
  EXPECT_EQ(python_float_repr(1e-5), "1e-05");
  EXPECT_EQ(python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(python_float_repr(1.5e16), "1.5e+16");
  EXPECT_EQ(python_float_repr(123456.5), "123456.5");
  EXPECT_EQ(python_float_repr(-0.25), "-0.25");
}

using test::remove_tensor;
using test::Storage;
using test::tensor;
using test::Tensors;

void expect_broken(const std::string& name, const std::function<void(Tensors&, Storage&)>& mutate,
                   const std::string& needle, const std::function<void(nlohmann::json&)>& edit = {}) {
  test::expect_broken_folder("bnb_4bit/stories260k_nf4_dq", name, mutate, needle, edit);
}

const std::string kQ = "model.layers.1.self_attn.q_proj.weight";

void set_json(Tensors& ts, Storage& storage, const std::string& json) {
  SafetensorsWriteTensor& t = tensor(ts, kQ + ".quant_state.bitsandbytes__nf4");
  std::vector<uint8_t>& b = storage.emplace_back(json.begin(), json.end());
  t.bytes = b;
  t.shape = {static_cast<int64_t>(b.size())};
}

TEST(Bnb4bit, BrokenFoldersFailClearly) {
  using S = Storage;
  expect_broken("no_absmax", [](Tensors& ts, S&) { remove_tensor(ts, kQ + ".absmax"); }, kQ + ".absmax': missing");
  expect_broken("no_nested", [](Tensors& ts, S&) { remove_tensor(ts, kQ + ".nested_absmax"); }, "nested_absmax': missing");
  expect_broken("short_codes", [](Tensors& ts, S&) {
    SafetensorsWriteTensor& t = tensor(ts, kQ);
    t.bytes = t.bytes.first(t.bytes.size() - 2);
    t.shape = {static_cast<int64_t>(t.bytes.size()), 1};
  }, "2046 bytes of codes, expected 2048");
  expect_broken("short_absmax", [](Tensors& ts, S&) {
    SafetensorsWriteTensor& t = tensor(ts, kQ + ".absmax");
    t.bytes = t.bytes.first(10);
    t.shape = {10};
  }, "holds 10 codes, expected 64");
  expect_broken("bad_json", [](Tensors& ts, S& s) { set_json(ts, s, "{\"quant_type\": \"nf4\", "); }, "not valid JSON");
  expect_broken("json_no_blocksize", [](Tensors& ts, S& s) {
    set_json(ts, s, R"({"quant_type": "nf4", "dtype": "bfloat16", "shape": [64, 64]})");
  }, "no 'blocksize'");
  expect_broken("json_shape", [](Tensors& ts, S& s) {
    set_json(ts, s, R"({"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [32, 64], "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.5})");
  }, "shape [32,64] does not match");
  expect_broken("json_type", [](Tensors& ts, S& s) {
    set_json(ts, s, R"({"quant_type": "fp4", "blocksize": 64, "dtype": "bfloat16", "shape": [64, 64]})");
  }, "quant_type does not match");
  expect_broken("quant_map", [](Tensors& ts, S& s) {
    std::vector<uint8_t>& b = s.emplace_back(64, uint8_t{0});
    tensor(ts, kQ + ".quant_map").bytes = b;
  }, "is not bitsandbytes' NF4 codebook");
  expect_broken("int8", [](Tensors&, S&) {}, "load_in_4bit and load_in_8bit are both true",
                [](nlohmann::json& j) { j["quantization_config"]["load_in_8bit"] = true; });
  expect_broken("gptq", [](Tensors&, S&) {}, "'gptq' is not supported",
                [](nlohmann::json& j) { j["quantization_config"]["quant_method"] = "gptq"; });
}

}  // namespace
}  // namespace frugal
