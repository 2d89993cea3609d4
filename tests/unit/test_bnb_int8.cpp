// bitsandbytes 8-bit (LLM.int8) Hugging Face checkpoints: the stories260K folder transformers +
// bitsandbytes wrote (tests/reference/make_bnb_int8_fixtures.py) loads in frugal straight into int8
// rows and gives transformers' fp32 logits; frugal's writer reproduces bitsandbytes' file byte for
// byte; broken folders fail with one line naming the file, the tensor and the problem.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "infer/session.h"
#include "io/bnb_int8.h"
#include "io/export_model.h"
#include "format/safetensors.h"
#include "model/model.h"
#include "broken_folder.h"
#include "test_paths.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

const std::string kFolder = "bnb_int8/stories260k_int8";

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::vector<const Matrix*> linears(const Model& model) {
  std::vector<const Matrix*> out;
  for (const LayerWeights& l : model.weights.layers)
    for (const Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) out.push_back(m);
  return out;
}

TEST(BnbInt8, BitsandbytesFolderLoadsAsInt8RowsAndMatchesTransformers) {
  auto model = load_model(test::fixture(kFolder));
  for (const Matrix* m : linears(*model)) {
    ASSERT_TRUE(m->packed && m->packed->int8_rows());
    EXPECT_TRUE(m->data.empty());  // no fp32 copy
  }
  // The codes bitsandbytes stored are the ones frugal's codec makes from the same bf16 weights.
  auto bf16 = load_model(test::fixture("stories260k_hf/bf16"));
  const Matrix& source = bf16->weights.layers[3].gate;
  const Int8RowwiseMatrix ours = quantize_matrix_int8_rowwise(source.data.data(), source.rows, source.cols);
  EXPECT_EQ(model->weights.layers[3].gate.packed->int8_rows()->codes, ours.codes);
  EXPECT_EQ(model->weights.layers[3].gate.packed->int8_rows()->absmax, ours.absmax);

  const nlohmann::json ref = read_json(test::fixture("bnb_int8/reference.json"));
  const std::vector<int32_t> tokens = ref["tokens"];
  InferenceSession session(*model, 32, Precision::F32);
  const std::vector<float>& logits = session.forward(tokens.data(), static_cast<int64_t>(tokens.size()), true);
  double max_err = 0;
  for (size_t t = 0; t < tokens.size(); ++t)
    for (int v = 0; v < 512; ++v) max_err = std::max(max_err, std::abs(logits[t * 512 + v] - ref["f32"][t][v].get<double>()));
  std::printf("stories260K int8 (bitsandbytes-written): max |logit error| vs transformers fp32 %.3g\n", max_err);
  EXPECT_LT(max_err, 1e-4);
}

TEST(BnbInt8, FrugalWritesBitsandbytesFileByteForByte) {
  const std::string expected = test::read_file(test::fixture(kFolder + "/model.safetensors"));
  ASSERT_FALSE(expected.empty());
  const fs::path out = fs::path(::testing::TempDir()) / "frugal_bnb_int8_write";
  // From the same bf16 weights transformers quantized, and from what frugal read of bitsandbytes' folder.
  auto quantized = load_model(test::fixture("stories260k_hf/bf16"));
  LinearQuantization int8;
  int8.int8 = true;
  quantize_linear_weights(quantized->weights, int8);
  auto read = load_model(test::fixture(kFolder));
  for (const Model* model : {quantized.get(), read.get()}) {
    fs::remove_all(out);
    export_hf(*model, out.string(), ExportDtype::BF16);
    EXPECT_TRUE(test::read_file((out / "model.safetensors").string()) == expected);
    EXPECT_EQ(read_json((out / "config.json").string())["quantization_config"],
              read_json(test::fixture(kFolder + "/config.json"))["quantization_config"]);
  }
}

using test::Storage;
using test::tensor;
using test::Tensors;

void expect_broken(const std::string& name, const std::function<void(Tensors&, Storage&)>& mutate,
                   const std::string& needle, const std::function<void(nlohmann::json&)>& edit = {}) {
  test::expect_broken_folder(kFolder, name, mutate, needle, edit);
}

const std::string kModule = "model.layers.1.self_attn.q_proj";

void replace_bytes(SafetensorsWriteTensor& t, Storage& s, std::vector<uint8_t> bytes, SafeDtype dtype,
                   std::vector<int64_t> shape) {
  t.bytes = s.emplace_back(std::move(bytes));
  t.dtype = dtype;
  t.shape = std::move(shape);
}

TEST(BnbInt8, BrokenFoldersFailClearly) {
  const std::string w = kModule + ".weight", scb = kModule + ".SCB", format = kModule + ".weight_format";
  expect_broken("no_scb", [&](Tensors& ts, Storage&) { std::erase_if(ts, [&](auto& t) { return t.name == scb; }); },
                "tensor '" + scb + "': missing");
  expect_broken("no_weight", [&](Tensors& ts, Storage&) { std::erase_if(ts, [&](auto& t) { return t.name == w; }); },
                "tensor '" + w + "': missing (its SCB is there)");
  expect_broken("weight_dtype", [&](Tensors& ts, Storage& s) {
    replace_bytes(tensor(ts, w), s, std::vector<uint8_t>(64 * 64 * 2), SafeDtype::BF16, {64, 64});
  }, "model.safetensors: tensor '" + w + "': dtype is BF16, expected I8");
  expect_broken("weight_shape", [&](Tensors& ts, Storage&) { tensor(ts, w).shape = {32, 128}; },
                "tensor '" + w + "': shape [32,128] does not match config.json's [64,64]");
  expect_broken("short_scb", [&](Tensors& ts, Storage&) {
    SafetensorsWriteTensor& t = tensor(ts, scb);
    t.bytes = t.bytes.first(63 * 4);
    t.shape = {63};
  }, "tensor '" + scb + "': shape [63], expected [64]");
  expect_broken("scb_dtype", [&](Tensors& ts, Storage&) { tensor(ts, scb).dtype = SafeDtype::I32; },
                "tensor '" + scb + "': dtype is I32, expected F32");
  expect_broken("scb_negative", [&](Tensors& ts, Storage& s) {
    std::vector<uint8_t> bytes(tensor(ts, scb).bytes.begin(), tensor(ts, scb).bytes.end());
    const float bad = -1.0f;
    std::memcpy(bytes.data() + 3 * 4, &bad, 4);
    replace_bytes(tensor(ts, scb), s, std::move(bytes), SafeDtype::F32, {64});
  }, "tensor '" + scb + "': row 3: absmax -1.000000 is negative or not finite");
  expect_broken("scb_nan", [&](Tensors& ts, Storage& s) {
    std::vector<uint8_t> bytes(tensor(ts, scb).bytes.begin(), tensor(ts, scb).bytes.end());
    const float bad = NAN;
    std::memcpy(bytes.data(), &bad, 4);
    replace_bytes(tensor(ts, scb), s, std::move(bytes), SafeDtype::F32, {64});
  }, "row 0: absmax nan is negative or not finite");
  expect_broken("column_major", [&](Tensors& ts, Storage& s) {
    replace_bytes(tensor(ts, format), s, {1}, SafeDtype::U8, {});
  }, "tensor '" + format + "': is 1, not 0 (row-major)");
  expect_broken("format_size", [&](Tensors& ts, Storage& s) {
    replace_bytes(tensor(ts, format), s, {0, 0}, SafeDtype::U8, {2});
  }, "tensor '" + format + "': holds 2 values, expected 1");
  expect_broken("both_bits", [](Tensors&, Storage&) {}, "config.json: quantization_config: load_in_4bit and load_in_8bit are both true",
                [](nlohmann::json& j) { j["quantization_config"]["load_in_4bit"] = true; });
  expect_broken("no_bits", [](Tensors&, Storage&) {}, "neither load_in_4bit nor load_in_8bit is true",
                [](nlohmann::json& j) { j["quantization_config"]["load_in_8bit"] = false; j["quantization_config"]["_load_in_8bit"] = false; });
}

}  // namespace
}  // namespace frugal
