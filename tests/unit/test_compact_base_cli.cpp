// The inference commands' compact bases (declared once, in tools/frugal/model_options.cpp):
// --load-in-8bit holds the linear weights as int8 rows, so perplexity equals the library's on the same
// int8 model; --keep-gguf-quantization holds a GGUF's blocks as stored, so perplexity equals the same
// file dequantized at load.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include <unistd.h>

#include "infer/perplexity.h"
#include "io/export_model.h"
#include "model/model.h"
#include "run_frugal.h"
#include "test_paths.h"

namespace frugal {
namespace {

const std::string kModelArgs = "-m " + test::data_file("stories260K/stories260K.bin") + " --tokenizer " +
                               test::data_file("stories260K/tok512.bin");
const std::string kText = test::data_file("stories260K/expected_t0_n256.txt");

double cli_nll(const std::string& extra, const std::string& model_args = kModelArgs) {
  test::RunResult r = test::run_frugal("perplexity " + model_args + " -f " + kText + " --ctx 128 --dtype f32 --json" + extra);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const size_t at = r.out.find("\"nll\": ");
  if (at == std::string::npos) return -1;
  return std::stod(r.out.substr(at + 7));
}

TEST(LoadIn8bitCli, PerplexityRunsOnInt8RowsOfTheBase) {
  LoadOptions options;
  options.quantize_linears = LinearQuantization{};
  options.quantize_linears->int8 = true;
  auto model = load_model(test::data_file("stories260K/stories260K.bin"), test::data_file("stories260K/tok512.bin"), options);
  ASSERT_TRUE(model->weights.layers[2].up.packed && model->weights.layers[2].up.packed->int8_rows());
  std::vector<int32_t> tokens = model->tokenizer->encode(test::read_file(kText), true, false);
  const PerplexityResult r = perplexity(*model, tokens, 128, 128, Precision::F32);
  const double expected = r.nll_sum / static_cast<double>(r.tokens_scored);

  const double int8 = cli_nll(" --load-in-8bit"), plain = cli_nll("");
  std::printf("stories260K nll: fp32 base %.6f, int8 base %.6f\n", plain, int8);
  EXPECT_NEAR(int8, expected, 1e-6 * expected);
  EXPECT_NE(int8, plain);                        // the int8 rounding shows
  EXPECT_NEAR(int8, plain, 0.01 * plain);        // and barely moves it
}

TEST(LoadIn8bitCli, GenerateRunsAndTheFlagsExcludeEachOther) {
  test::RunResult g = test::run_frugal("generate " + kModelArgs + " --load-in-8bit -n 16 --temperature 0");
  EXPECT_EQ(g.exit_code, 0) << g.err;
  EXPECT_FALSE(g.out.empty());
  test::RunResult both = test::run_frugal("generate " + kModelArgs + " --load-in-8bit --load-in-4bit nf4 -n 1");
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_NE(both.err.find("--load-in-8bit and --load-in-4bit: choose one"), std::string::npos) << both.err;
  EXPECT_EQ(std::count(both.err.begin(), both.err.end(), '\n'), 1) << both.err;
}

TEST(KeepGgufQuantizationCli, PerplexityOnStoredBlocksEqualsTheFileDequantizedAtLoad) {
  const std::string gguf = std::string(::testing::TempDir()) + "frugal_keep_gguf_cli_" + std::to_string(getpid()) + ".gguf";
  export_gguf(*load_model(test::data_file("stories260K/stories260K.bin"), test::data_file("stories260K/tok512.bin")),
              gguf, ExportDtype::Q8_0);
  const std::string args = "-m " + gguf;
  const double kept = cli_nll(" --keep-gguf-quantization", args), plain = cli_nll("", args);
  std::printf("stories260K Q8_0 nll: dequantized at load %.9f, kept as Q8_0 blocks %.9f\n", plain, kept);
  EXPECT_GT(plain, 0);
  EXPECT_EQ(kept, plain);  // the same values reach the same products

  test::RunResult not_gguf = test::run_frugal("perplexity " + kModelArgs + " -f " + kText + " --keep-gguf-quantization");
  EXPECT_EQ(not_gguf.exit_code, 1);
  EXPECT_NE(not_gguf.err.find("not a GGUF file"), std::string::npos) << not_gguf.err;
  test::RunResult both = test::run_frugal("perplexity " + args + " -f " + kText + " --keep-gguf-quantization --load-in-8bit");
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_NE(both.err.find("choose one"), std::string::npos) << both.err;
  for (const test::RunResult* r : {&not_gguf, &both})
    EXPECT_EQ(std::count(r->err.begin(), r->err.end(), '\n'), 1) << r->err;
  std::remove(gguf.c_str());
}

}  // namespace
}  // namespace frugal
