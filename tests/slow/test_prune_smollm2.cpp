// frugal prune on SmolLM2-135M-Instruct (the Q4_1 GGUF, dequantized) against llm-compressor 0.11 on
// the same weights exported as an fp32 HF folder and the same calibration ids
// (tests/reference/make_prune_fixtures.py --smollm2 -> tests/fixtures/prune_smollm2/): perplexity on
// 16384 wikitext-2 test tokens within 2% for SparseGPT at 50%, 2:4 and 4:8, and the masks of two
// recorded layers (the first and the last block's k_proj) compared.
// The first block's masks agree up to ties; from there the two drift apart, as each block is
// calibrated on the outputs of the pruned blocks before it: a near-tie that falls the other way in
// fp32 (llm-compressor) and fp64 (here) changes the next blocks' inputs a little, which turns more
// near-ties. Measured for Wanda 2:4, weights differing per block over its seven projections:
// 2 in block 0, 2 in block 1, 26 in block 2, 524 in block 3, ~20000 of 3.5M by block 10, ~70000 by
// block 29. frugal's own result does not move with its rounding (--block-size 64 or 128: the same
// weights), so the spread is llm-compressor's fp32.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "../unit/prune_fixture.h"
#include "../unit/test_paths.h"
#include "core/read_file.h"
#include "infer/perplexity.h"
#include "model/module_names.h"
#include "model/prune_model.h"

namespace frugal {
namespace {

const std::string kModel = test::model_cache("SmolLM2-135M-Instruct.Q4_1.gguf");

nlohmann::json load_json(const std::string& name) { return test::prune_fixture_json("prune_smollm2", name); }

const test::PruneCalibration& calibration() {
  static const test::PruneCalibration c = test::read_prune_calibration("prune_smollm2");
  return c;
}

// Fraction of the weights of block `layer`'s k_proj whose kept/zeroed state agrees with the fixture.
double mask_overlap(const Model& model, const nlohmann::json& expected, int64_t layer) {
  const std::string name = hf_module_name(WeightRole::Wk, layer);
  const nlohmann::json& e = expected["layers"].at(name);
  const std::vector<uint8_t> packed = test::base64_decode(e["mask"].get<std::string>());
  const Matrix& m = linear_weight(model.weights, WeightRole::Wk, layer);
  int64_t same = 0;
  for (int64_t i = 0; i < m.rows * m.cols; ++i) same += test::kept_bit(packed, i) == (m.data[i] != 0.0f);
  return static_cast<double>(same) / static_cast<double>(m.rows * m.cols);
}

double eval_perplexity(Model& model) {
  return perplexity(model, calibration().eval, 512, 512, Precision::F32).perplexity();
}

std::unique_ptr<Model> pruned(PruneMethod method, SparsityTarget target) {
  auto model = load_model(kModel);
  PruneOptions o;
  o.method = method;
  o.target = target;
  prune_model(*model, o, calibration().samples);
  return model;
}

TEST(PruneSmolLM2, MagnitudeMasksEqualLlmCompressor) {
  auto model = pruned(PruneMethod::Magnitude, {0.5, 0, 0});
  const nlohmann::json expected = load_json("magnitude_layer_50");
  EXPECT_EQ(mask_overlap(*model, expected, 0), 1.0);
  EXPECT_EQ(mask_overlap(*model, expected, model->config.n_layers - 1), 1.0);
}

// N:M magnitude differs from llm-compressor by ties alone: the dequantized Q4_1 weights repeat 16
// values per block of 32, and torch.topk breaks ties its own way (frugal: lowest column first). Every
// group of 4 whose mask differs must prune the same magnitudes (measured: 14% / 12% of the groups
// of blocks 0 / 29's k_proj differ, all of them ties).
TEST(PruneSmolLM2, MagnitudeTwoOfFourDiffersOnlyByTies) {
  auto dense = load_model(kModel);
  auto model = pruned(PruneMethod::Magnitude, {0.5, 2, 4});
  const nlohmann::json expected = load_json("magnitude_2of4");
  for (const int64_t layer : {int64_t{0}, model->config.n_layers - 1}) {
    const nlohmann::json& e = expected["layers"].at(hf_module_name(WeightRole::Wk, layer));
    const std::vector<uint8_t> packed = test::base64_decode(e["mask"].get<std::string>());
    const Matrix& m = linear_weight(model->weights, WeightRole::Wk, layer);
    const Matrix& d = linear_weight(dense->weights, WeightRole::Wk, layer);
    int64_t differing = 0;
    for (int64_t g = 0; g < m.rows * m.cols; g += 4) {
      std::vector<float> ours, theirs;
      for (int64_t i = g; i < g + 4; ++i) {
        if (m.data[i] == 0.0f) ours.push_back(std::fabs(d.data[i]));
        if (!test::kept_bit(packed, i)) theirs.push_back(std::fabs(d.data[i]));
      }
      std::sort(ours.begin(), ours.end());
      std::sort(theirs.begin(), theirs.end());
      bool same_mask = true;
      for (int64_t i = g; i < g + 4; ++i) same_mask &= (m.data[i] != 0.0f) == test::kept_bit(packed, i);
      differing += !same_mask;
      if (ours.size() == 2) {
        EXPECT_EQ(ours, theirs) << "block " << layer << " group at " << g;
      }
    }
    std::printf("[ magnitude 2:4 ] block %lld k_proj: %lld of %lld groups differ, all by ties\n",
                static_cast<long long>(layer), static_cast<long long>(differing),
                static_cast<long long>(m.rows * m.cols / 4));
  }
}

TEST(PruneSmolLM2, WandaMasksEqualLlmCompressorUpToTies) {
  auto model = pruned(PruneMethod::Wanda, {0.5, 2, 4});
  const nlohmann::json expected = load_json("wanda_2of4");
  const double first = mask_overlap(*model, expected, 0),
               last = mask_overlap(*model, expected, model->config.n_layers - 1);
  std::printf("[ wanda 2:4 ] k_proj mask overlap: block 0 %.4f%%, last block %.4f%%\n", 100 * first, 100 * last);
  EXPECT_GE(first, 0.9999);  // measured 100%
  EXPECT_GE(last, 0.95);     // measured 98.0%
}

TEST(PruneSmolLM2, SparseGptPerplexityWithinTwoPercentOfLlmCompressor) {
  for (const auto& [name, target] :
       {std::pair{"sparsegpt_50", SparsityTarget{0.5, 0, 0}}, std::pair{"sparsegpt_2of4", SparsityTarget{0.5, 2, 4}},
        std::pair{"sparsegpt_4of8", SparsityTarget{0.5, 4, 8}}}) {
    auto model = pruned(PruneMethod::SparseGpt, target);
    const nlohmann::json expected = load_json(name);
    const double ppl = eval_perplexity(*model), want = expected["ppl"].get<double>();
    const double first = mask_overlap(*model, expected, 0),
                 last = mask_overlap(*model, expected, model->config.n_layers - 1);
    std::printf(
        "[ %s ] ppl %.4f vs llm-compressor %.4f (%+.3f%%), k_proj mask overlap: block 0 %.4f%%, last block %.4f%%\n",
        name, ppl, want, 100 * (ppl / want - 1), 100 * first, 100 * last);
    EXPECT_NEAR(ppl, want, 0.02 * want) << name;  // measured +0.52%, +1.99%, +0.29%
    EXPECT_GE(first, 0.999) << name;              // measured 100% for all three
    EXPECT_GE(last, 0.90) << name;                // measured 98.0%, 92.3%, 93.7%
  }
}

}  // namespace
}  // namespace frugal
