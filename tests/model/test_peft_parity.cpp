// Whole-model LoRA training parity with transformers + PEFT on SmolLM2-135M-Instruct (fp32):
// tests/reference/make_peft_parity_fixture.py trains the same adapter (r=2, alpha=4, all 7
// projections) from the same initial values on the same two micro-batches for 10 AdamW steps and
// records each step's loss and the LoRA gradients of step 1 (tests/fixtures/peft_parity/).
// Here frugal repeats the run: every loss within 0.5% relative, step-1 gradients within 1e-3
// relative norm error.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "../unit/peft_parity_util.h"
#include "../unit/test_paths.h"
#include "format/safetensors.h"
#include "io/peft_adapter.h"
#include "model/model.h"

namespace frugal {
namespace {

const std::string kModel = test::model_cache("SmolLM2-135M-Instruct.Q4_1.gguf");

TEST(PeftParity, TenAdamWStepsMatchTransformersPeftAtFp32) {
  const std::string dir = test::fixture("peft_parity");
  nlohmann::json fx;
  {
    std::ifstream in(dir + "/batches.json");
    ASSERT_TRUE(in) << dir << "/batches.json";
    fx = nlohmann::json::parse(in);
  }
  std::unique_ptr<Model> model = load_model(kModel);
  LoraAdapter adapter = read_peft_adapter(dir + "/init_adapter", model->config);
  ASSERT_EQ(adapter.config.r, fx["r"].get<int64_t>());
  ASSERT_FLOAT_EQ(adapter.config.scaling(), fx["lora_alpha"].get<float>() / fx["r"].get<float>());
  ASSERT_EQ(adapter.layers.size(), static_cast<size_t>(7 * model->config.n_layers));

  const SafetensorsFile ref_grads(dir + "/step1_grads.safetensors");
  ASSERT_EQ(ref_grads.tensors().size(), 2 * adapter.layers.size());

  for (const auto& b : fx["batches"])
    ASSERT_EQ(test::peft_fixture_batch(b, fx["pad_id"].get<int32_t>()).target_count(), b["target_count"].get<int64_t>());
  ASSERT_EQ(fx["losses"].size(), 10u);

  test::expect_lora_parity(*model, adapter, fx, ref_grads, "SmolLM2");
}

}  // namespace
}  // namespace frugal
