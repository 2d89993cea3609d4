// `frugal quantize` on stories260K: the bits per parameter it prints are the bytes of the codes and
// scales actually held, the RMSE per layer is the codec's error, the folders it writes load back
// 4-bit or as int8 rows, and bad options fail in one line.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "model/model.h"
#include "model/quantize_model.h"
#include "quant/nf4.h"
#include "run_frugal.h"
#include "io/peft_adapter.h"
#include "lora_test_util.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<Model> stories() {
  return load_model(test::data_file("stories260K/stories260K.bin"), test::data_file("stories260K/tok512.bin"));
}

const std::string kStories = "-m " + test::data_file("stories260K/stories260K.bin") + " --tokenizer " +
                             test::data_file("stories260K/tok512.bin");

TEST(Quantize, BitsPerParameterAreTheResidentBytes) {
  for (bool dq : {false, true}) {
    auto model = stories();
    const QuantizeReport r = quantize_linears(model->weights, WeightQuant::kNf4, dq);
    EXPECT_EQ(r.bytes, linear_weight_bytes(model->weights));  // what the matrices now hold
    EXPECT_EQ(r.params, 226560);
    EXPECT_EQ(r.layers.size(), 35u);
    // stories260K's matrices are whole 64-blocks: 4 bits + 32/64 exactly; with double quant one
    // byte per block, one fp32 per started 256 blocks and the offset per matrix.
    if (!dq) EXPECT_DOUBLE_EQ(r.bits_per_param(), 4.5);
    else {
      int64_t bytes = 0;
      for (const LinearQuantError& e : r.layers)
        bytes += e.params / 2 + e.params / 64 + 4 * num_blocks(e.params / 64, 256) + 4;
      EXPECT_EQ(r.bytes, bytes);
      EXPECT_NEAR(r.bits_per_param(), quant4_bits_per_param(64, true), 0.02);
    }
  }
  auto model = stories();
  const QuantizeReport r = quantize_linears(model->weights, WeightQuant::kInt8, false);
  int64_t bytes = 0;
  for (const LayerWeights& l : model->weights.layers)
    for (const Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) bytes += m->rows * m->cols + 4 * m->rows;
  EXPECT_EQ(r.bytes, bytes);
  EXPECT_NEAR(r.bits_per_param(), 8.0 + 32.0 / 64, 0.1);  // most rows are 64 long
}

TEST(Quantize, RmseIsTheCodecsError) {
  auto original = stories();
  for (WeightQuant q : {WeightQuant::kNf4, WeightQuant::kFp4, WeightQuant::kInt8}) {
    auto model = stories();
    const QuantizeReport r = quantize_linears(model->weights, q, false);
    const Matrix& before = original->weights.layers[2].gate;
    const Matrix& after = model->weights.layers[2].gate;
    std::vector<float> restored(before.data.size());
    ASSERT_TRUE(after.compact() && after.data.empty());
    after.dequantize_into(restored.data());
    double sq = 0, max_abs = 0;
    for (size_t i = 0; i < restored.size(); ++i) {
      sq += std::pow(static_cast<double>(before.data[i]) - restored[i], 2);
      max_abs = std::max(max_abs, std::abs(static_cast<double>(before.data[i])));
    }
    const LinearQuantError& e = r.layers[2 * 7 + 4];
    ASSERT_EQ(e.name, "model.layers.2.mlp.gate_proj");
    EXPECT_DOUBLE_EQ(e.rmse, std::sqrt(sq / static_cast<double>(restored.size())));
    // Bounds from the codecs: int8 rounds to absmax/127 steps; NF4's widest gap is 1 - 0.7230.
    if (q == WeightQuant::kInt8) {
      EXPECT_LE(e.rmse, max_abs / 254);
    }
    if (q == WeightQuant::kNf4) {
      EXPECT_LE(e.rmse, max_abs * (1 - 0.7229568) / 2);
    }
    EXPECT_GT(e.rmse, 0);
  }
}

TEST(Quantize, CliPrintsTheTableAndWritesALoadableFolder) {
  const fs::path out = fs::path(::testing::TempDir()) / "frugal_quantize_out";
  fs::remove_all(out);
  test::RunResult r = test::run_frugal("quantize " + kStories + " --type fp4 -o " + out.string() + " --out-dtype f32");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("model.layers.4.mlp.down_proj"), std::string::npos);
  EXPECT_NE(r.out.find("fp4: 226560 linear parameters in 127440 bytes of codes and scales = 4.5000 bits per parameter"),
            std::string::npos) << r.out;
  auto written = load_model(out.string());
  auto expected = stories();
  quantize_linears(expected->weights, WeightQuant::kFp4, false);
  ASSERT_TRUE(written->weights.layers[3].up.q4);
  EXPECT_EQ(written->weights.layers[3].up.q4->packed, expected->weights.layers[3].up.q4->packed);
  EXPECT_EQ(written->weights.layers[3].up.q4->absmax, expected->weights.layers[3].up.q4->absmax);
  EXPECT_EQ(written->weights.token_embedding.data, expected->weights.token_embedding.data);  // f32 kept exactly
}

TEST(Quantize, CliWritesAnInt8FolderThatLoadsAsInt8Rows) {
  const fs::path out = fs::path(::testing::TempDir()) / "frugal_quantize_int8_out";
  fs::remove_all(out);
  test::RunResult r = test::run_frugal("quantize " + kStories + " --type int8 -o " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("8-bit in bitsandbytes' LLM.int8 format"), std::string::npos) << r.err;
  auto written = load_model(out.string());
  auto expected = stories();
  quantize_linears(expected->weights, WeightQuant::kInt8, false);
  for (const Model* m : {written.get(), expected.get()}) ASSERT_TRUE(m->weights.layers[4].down.packed->int8_rows());
  EXPECT_EQ(written->weights.layers[4].down.packed->int8_rows()->codes, expected->weights.layers[4].down.packed->int8_rows()->codes);
  EXPECT_EQ(written->weights.layers[4].down.packed->int8_rows()->absmax, expected->weights.layers[4].down.packed->int8_rows()->absmax);
}

TEST(Quantize, CliPerplexityBeforeAndAfter) {
  test::RunResult r = test::run_frugal("quantize " + kStories + " --type int8 --dtype f32 --ppl-file " +
                                       test::data_file("stories260K/expected_t0_n256.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const size_t at = r.out.find("perplexity (");
  ASSERT_NE(at, std::string::npos) << r.out;
  double before = 0, after = 0;
  ASSERT_EQ(std::sscanf(r.out.c_str() + r.out.find("before", at), "before %lf after %lf", &before, &after), 2);
  EXPECT_GT(before, 1.0);
  EXPECT_NEAR(after, before, 0.05 * before);  // int8 barely moves it
}

TEST(Quantize, BadOptionsFailInOneLine) {
  const auto expect_error = [](const std::string& args, const std::string& needle) {
    test::RunResult r = test::run_frugal("quantize " + kStories + " " + args);
    EXPECT_EQ(r.exit_code, 1) << args;
    EXPECT_NE(r.err.find(needle), std::string::npos) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  };
  expect_error("--type q3", "--type must be nf4, fp4 or int8, not 'q3'");
  expect_error("--type int8 --double-quant", "--double-quant applies to nf4 and fp4, not int8");
  expect_error("--type nf4 --out-dtype q8_0 -o /tmp/frugal_never", "--out-dtype must be f32, f16 or bf16");
}

TEST(Quantize, HelpListsEveryOption) {
  test::RunResult r = test::run_frugal("quantize --help");
  ASSERT_EQ(r.exit_code, 0);
  int found = 0;
  for (const char* option : {"--model", "--tokenizer", "--type", "--double-quant", "--out", "--out-dtype", "--ppl-file",
                             "--max-tokens", "--ctx", "--dtype", "--threads"})
    found += r.out.find(option) != std::string::npos;
  EXPECT_EQ(found, 11) << r.out;
  EXPECT_NE(test::run_frugal("--help").out.find("quantize"), std::string::npos);
}

}  // namespace
}  // namespace frugal

namespace frugal {
namespace {

// merge --requantize: the merged weights (base + adapter) are quantized again and written as a
// bitsandbytes folder, with a warning that says how much rounding that costs; the result is the
// 4-bit quantization of the merged fp32 weights, so the adapter's change survives where it is
// larger than the rounding.
TEST(Quantize, MergeRequantizesTheMergedWeightsWithAWarning) {
  auto model = stories();
  const LoraAdapter adapter = test::random_lora(model->config, 0.05f, 9);
  const fs::path adapter_dir = fs::path(::testing::TempDir()) / "frugal_requantize_adapter";
  const fs::path out = fs::path(::testing::TempDir()) / "frugal_requantize_out";
  fs::remove_all(adapter_dir), fs::remove_all(out);
  write_peft_adapter(adapter_dir.string(), adapter, model->config, "stories260K");
  test::RunResult r = test::run_frugal("merge " + kStories + " --adapter " + adapter_dir.string() + " -o " +
                                       out.string() + " --format hf --dtype f32 --requantize nf4-dq");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("merge: warning: re-quantizing to nf4-dq rounds the merged weights again"), std::string::npos)
      << r.err;
  merge_lora_into(model->weights, adapter);
  quantize_linears(model->weights, WeightQuant::kNf4, true);
  auto written = load_model(out.string());
  ASSERT_TRUE(written->weights.layers[2].wv.q4);
  EXPECT_EQ(written->weights.layers[2].wv.q4->packed, model->weights.layers[2].wv.q4->packed);

  test::RunResult gguf = test::run_frugal("merge " + kStories + " -o " + out.string() + ".gguf --requantize nf4");
  EXPECT_EQ(gguf.exit_code, 1);
  EXPECT_NE(gguf.err.find("--requantize: nf4: writes a bitsandbytes Hugging Face folder"), std::string::npos) << gguf.err;
}

}  // namespace
}  // namespace frugal
