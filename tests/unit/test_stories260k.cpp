// stories260K (llama2.c) against the outputs of llama2.c's own run.c (tests/data/stories260K).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "core/error.h"
#include "infer/session.h"
#include "model/model.h"
#include "run_frugal.h"

namespace frugal {
namespace {

const std::string kModel = test::data_file("stories260K/stories260K.bin");
const std::string kTokenizer = test::data_file("stories260K/tok512.bin");

std::string model_args() { return "-m " + kModel + " --tokenizer " + kTokenizer; }

TEST(Stories260K, FirstPositionLogitsMatchRunC) {
  auto model = load_model(kModel, kTokenizer);
  EXPECT_EQ(model->config.dim, 64);
  EXPECT_EQ(model->config.n_layers, 5);
  EXPECT_EQ(model->config.n_kv_heads, 4);
  for (Precision p : {Precision::F32}) {
    InferenceSession session(*model, 16, p);
    const int32_t bos = 1;
    const std::vector<float>& logits = session.forward(&bos, 1);
    std::ifstream in(test::data_file("stories260K/expected_logits_pos0.txt"));
    int id;
    double expected;
    int count = 0;
    double max_err = 0;
    while (in >> id >> expected) {
      max_err = std::max(max_err, std::abs(logits[id] - expected));
      ++count;
    }
    EXPECT_EQ(count, 512);
    EXPECT_LT(max_err, 1e-4);
  }
}

TEST(Stories260K, GreedyTwoHundredStepsMatchRunCByteForByte) {
  // Default flags: --dtype auto computes an fp32-stored model in fp32, so llama2.c's output is
  // reproduced without asking for it.
  test::RunResult r = test::run_frugal("generate " + model_args() + " -n 200 --temperature 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, test::read_file(test::data_file("stories260K/expected_t0_n200.txt")) + "\n");
  EXPECT_NE(r.err.find(", f32"), std::string::npos) << r.err;
}

TEST(Stories260K, GreedyTokenIdsMatchRunC) {
  auto model = load_model(kModel, kTokenizer);
  InferenceSession session(*model, 300, Precision::F32);
  std::ifstream in(test::data_file("stories260K/expected_t0_n256_token_ids.txt"));
  int32_t token = 1, expected;
  int step = 0;
  while (in >> expected) {
    const std::vector<float>& logits = session.forward(&token, 1);
    int32_t best = 0;
    for (int32_t i = 1; i < 512; ++i)
      if (logits[i] > logits[best]) best = i;
    ASSERT_EQ(best, expected) << "step " << step;
    token = best;
    ++step;
  }
  EXPECT_EQ(step, 256);
}

TEST(Stories260K, SampledRunMatchesRunCSampler) {
  test::RunResult r = test::run_frugal("generate " + model_args() +
                                       " -n 256 --temperature 1.0 --top-p 0.9 --seed 133742");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, test::read_file(test::data_file("stories260K/expected_t1.0_p0.9_s133742.txt")) + "\n");
}

TEST(Stories260K, PromptedRunContinuesLikeRunC) {
  auto model = load_model(kModel, kTokenizer);
  EXPECT_EQ(model->tokenizer->encode("Once upon a time", true, false), (std::vector<int32_t>{1, 403, 407, 261, 378}));
}

TEST(Stories260K, Bf16PathStaysCloseToFp32) {
  auto model = load_model(kModel, kTokenizer);
  InferenceSession f32(*model, 16, Precision::F32), bf16(*model, 16, Precision::BF16);
  const int32_t tokens[4] = {1, 403, 407, 261};
  std::vector<float> a = f32.forward(tokens, 4);
  std::vector<float> b = bf16.forward(tokens, 4);
  double max_err = 0;
  for (size_t i = 0; i < a.size(); ++i) max_err = std::max<double>(max_err, std::abs(a[i] - b[i]));
  EXPECT_LT(max_err, 0.25);  // bf16 keeps 8 mantissa bits; logits here span about +-20
}

// Hand-broken llama2.c checkpoints fail with a one-line error naming the file.
void expect_load_error(const std::string& bytes, const std::string& name, const std::string& needle) {
  const std::string path = std::string(::testing::TempDir()) + "frugal_" + name + ".bin";
  std::ofstream(path, std::ios::binary) << bytes;
  try {
    load_model(path, kTokenizer);
    ADD_FAILURE() << name << ": loaded";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
}

TEST(Stories260K, BrokenCheckpointsFailClearly) {
  const std::string good = test::read_file(kModel);
  expect_load_error(good.substr(0, 20), "short_header", "file ends inside header");
  expect_load_error(good.substr(0, good.size() / 2), "truncated", "file ends inside");
  expect_load_error(good + "xxxx", "trailing", "unexpected bytes");
  std::string absurd = good;
  const int32_t huge = 1 << 30;
  absurd.replace(0, 4, reinterpret_cast<const char*>(&huge), 4);
  expect_load_error(absurd, "absurd_dim", "absurd value");
  std::string heads = good;
  const int32_t three = 3;
  heads.replace(16, 4, reinterpret_cast<const char*>(&three), 4);  // 8 heads, 3 kv heads
  expect_load_error(heads, "bad_heads", "key/value heads");
}

TEST(Stories260K, CliErrorsAreOneLineAndNonZero) {
  test::RunResult missing = test::run_frugal("generate -m /nonexistent/model.gguf -n 1");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("/nonexistent/model.gguf"), std::string::npos) << missing.err;
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;

  test::RunResult no_tok = test::run_frugal("generate -m " + kModel + " -n 1");
  EXPECT_NE(no_tok.exit_code, 0);
  EXPECT_NE(no_tok.err.find("--tokenizer"), std::string::npos) << no_tok.err;

  test::RunResult bad_opt = test::run_frugal("generate " + model_args() + " --top-k banana");
  EXPECT_NE(bad_opt.exit_code, 0);
  EXPECT_NE(bad_opt.err.find("--top-k"), std::string::npos) << bad_opt.err;
}

TEST(Stories260K, TokenizeCommandPrintsIds) {
  test::RunResult r = test::run_frugal("tokenize -m " + kModel + " --tokenizer " + kTokenizer +
                                       " --text 'Once upon a time' --add-special");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1 403 407 261 378\n");
}

}  // namespace
}  // namespace frugal
