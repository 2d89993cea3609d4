// A frugal-written 8-bit (LLM.int8) checkpoint of SmolLM2-135M-Instruct loads in transformers with
// bitsandbytes and gives frugal's logits: tests/reference/make_bnb_int8_fixtures.py ran `frugal
// quantize --type int8 -o` and stored transformers' logits on that folder (fp32 compute: each weight
// dequantized by bitsandbytes' int8_vectorwise_dequant, then a plain fp32 product); this test writes
// the folder the same way, reloads it in frugal and compares in fp32.
#include <gtest/gtest.h>

#include <cstdio>

#include "bnb_smollm2_util.h"

namespace frugal {
namespace {

TEST(BnbInt8SmolLM2, FrugalWrittenInt8CheckpointGivesTransformersLogits) {
  const nlohmann::json ref = test::read_fixture_json("bnb_int8/smollm2_int8.json");
  auto model = test::smollm2_through_bnb_folder(WeightQuant::kInt8, false, "frugal_bnb_int8_smollm2");
  const Matrix& down = model->weights.layers[7].down;
  ASSERT_TRUE(down.packed && down.packed->int8_rows() && down.data.empty());

  const auto [max_err, argmax_same, positions] = test::compare_sampled_logits(
      test::prompt_logits(*model, ref["prompts"], Precision::F32), ref["f32"], ref["columns"], model->config.vocab_size);
  std::printf("SmolLM2 int8 vs transformers fp32: max |logit error| %.3g, same argmax at %d of %d positions\n", max_err,
              argmax_same, positions);
  EXPECT_LT(max_err, 1e-3);
  EXPECT_EQ(argmax_same, positions);
}

}  // namespace
}  // namespace frugal
