// A frugal-written NF4 (double-quant) checkpoint of SmolLM2-135M-Instruct loads in transformers with
// bitsandbytes and gives frugal's logits: tests/reference/make_bnb_4bit_fixtures.py ran `frugal quantize
// --type nf4 --double-quant -o` and stored transformers' logits on that folder; this test writes the
// folder the same way, reloads it in frugal and compares.
//
// The tolerances come from transformers, not from frugal. fp32 compute must agree to 1e-3 (measured
// 9.3e-5). With bf16 compute no fixed bound like 1e-2 can hold: the same script made transformers sum
// each product in another order (rounding points unchanged) and its own logits moved by 0.36 (the
// fixture's "reorder_noise"), because a last-bit difference flips a bf16 rounding and the flips
// compound over 30 layers. frugal, computing with the same rounding points, must be at least as close
// to transformers as transformers is to itself.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <tuple>

#include "bnb_smollm2_util.h"

namespace frugal {
namespace {

TEST(BnbSmolLM2, FrugalWrittenNf4CheckpointGivesTransformersLogits) {
  const nlohmann::json ref = test::read_fixture_json("bnb_4bit/smollm2_nf4_dq.json");
  auto model = test::smollm2_through_bnb_folder(WeightQuant::kNf4, true, "frugal_bnb_smollm2");
  ASSERT_TRUE(model->weights.layers[7].down.q4 && model->weights.layers[7].down.data.empty());

  const std::vector<int64_t> columns = ref["columns"];
  // frugal's logits per precision, prompt after prompt.
  std::map<Precision, std::vector<std::vector<float>>> ours;
  for (Precision precision : {Precision::F32, Precision::BF16})
    ours[precision] = test::prompt_logits(*model, ref["prompts"], precision);
  // How far bf16 rounding alone moves frugal's own logits. transformers as users run a 4-bit checkpoint
  // ("bf16": bf16 activations too) is a different arithmetic from frugal's bf16 mode (fp32 activations,
  // bf16 products), so that comparison can only be bounded by the size of bf16 rounding itself.
  double bf16_noise = 0;
  for (size_t p = 0; p < ours[Precision::F32].size(); ++p)
    for (size_t i = 0; i < ours[Precision::F32][p].size(); ++i)
      bf16_noise = std::max(bf16_noise, static_cast<double>(std::abs(ours[Precision::F32][p][i] - ours[Precision::BF16][p][i])));
  const double transformers_reorder_noise = ref["reorder_noise"]["bf16_linear"];
  std::printf("frugal bf16 vs f32: max |logit change| %.3g; transformers vs itself summing in another order "
              "(bf16 products): %.3g\n", bf16_noise, transformers_reorder_noise);

  for (const auto& [mode, precision, tolerance] :
       {std::tuple{"f32", Precision::F32, 1e-3}, std::tuple{"bf16_linear", Precision::BF16, transformers_reorder_noise},
        std::tuple{"bf16", Precision::BF16, 2 * bf16_noise}}) {
    const auto [max_err, argmax_same, positions] =
        test::compare_sampled_logits(ours[precision], ref[mode], columns, model->config.vocab_size);
    std::printf("%s: max |logit error| %.3g, same argmax at %d of %d positions\n", mode, max_err, argmax_same, positions);
    EXPECT_LT(max_err, tolerance) << mode;
    EXPECT_GE(argmax_same, positions - 1) << mode;  // a near-tie may flip under bf16
  }
}

}  // namespace
}  // namespace frugal
