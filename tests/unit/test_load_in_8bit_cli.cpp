// The inference commands' --load-in-8bit (declared once, in tools/frugal/model_options.cpp): the base's
// linear weights are held as int8 rows, so perplexity equals the library's on the same int8 model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "infer/perplexity.h"
#include "model/model.h"
#include "run_frugal.h"
#include "test_paths.h"

namespace frugal {
namespace {

const std::string kModelArgs = "-m " + test::shared_data("stories260K/stories260K.bin") + " --tokenizer " +
                               test::shared_data("stories260K/tok512.bin");
const std::string kText = test::shared_data("stories260K/expected_t0_n256.txt");

double cli_nll(const std::string& extra) {
  test::RunResult r = test::run_frugal("perplexity " + kModelArgs + " -f " + kText + " --ctx 128 --dtype f32 --json" + extra);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const size_t at = r.out.find("\"nll\": ");
  if (at == std::string::npos) return -1;
  return std::stod(r.out.substr(at + 7));
}

TEST(LoadIn8bitCli, PerplexityRunsOnInt8RowsOfTheBase) {
  LoadOptions options;
  options.quantize_linears = LinearQuantization{};
  options.quantize_linears->int8 = true;
  auto model = load_model(test::shared_data("stories260K/stories260K.bin"), test::shared_data("stories260K/tok512.bin"), options);
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

}  // namespace
}  // namespace frugal
