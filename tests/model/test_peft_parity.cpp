// Whole-model LoRA training parity with transformers + PEFT on SmolLM2-135M-Instruct (fp32):
// tests/reference/make_peft_parity_fixture.py trains the same adapter (r=2, alpha=4, all 7
// projections) from the same initial values on the same two micro-batches for 10 AdamW steps and
// records each step's loss and the LoRA gradients of step 1 (tests/fixtures/peft_parity/).
// Here frugal repeats the run: every loss within 0.5% relative, step-1 gradients within 1e-3
// relative norm error.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "../unit/peft_parity_util.h"
#include "../unit/test_paths.h"
#include "data/batch.h"
#include "io/peft_adapter.h"
#include "format/safetensors.h"
#include "model/model.h"
#include "model/training_pass.h"
#include "train/optimizer.h"

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

  std::vector<Batch> batches;
  for (const auto& b : fx["batches"]) {
    batches.push_back(test::peft_fixture_batch(b, fx["pad_id"].get<int32_t>()));
    ASSERT_EQ(batches.back().target_count(), b["target_count"].get<int64_t>());
  }
  const std::vector<double> ref_losses = fx["losses"];
  ASSERT_EQ(ref_losses.size(), 10u);

  TrainingPass pass(*model, &adapter, {Precision::F32, false, false});
  const size_t n = adapter.values.size();
  std::vector<float> m(n, 0.0f), v(n, 0.0f);
  const AdamWHyper hyper = test::peft_fixture_adamw(fx);

  for (int64_t step = 1; step <= static_cast<int64_t>(ref_losses.size()); ++step) {
    const Batch& batch = batches[(step - 1) % batches.size()];
    const int64_t count = batch.target_count();
    pass.zero_grad();
    const CrossEntropyResult r = pass.forward_backward(batch, 1.0f / static_cast<float>(count), 0);
    ASSERT_EQ(r.count, count);
    const double loss = r.loss_sum / static_cast<double>(count);
    const double ref = ref_losses[step - 1];
    std::printf("step %2lld: loss frugal %.6f  PEFT %.6f  rel diff %.2e\n", static_cast<long long>(step), loss, ref,
                std::abs(loss - ref) / ref);
    EXPECT_LT(std::abs(loss - ref) / ref, 5e-3) << "step " << step << ": frugal " << loss << ", PEFT " << ref;

    if (step == 1) {
      const std::vector<float>& g = pass.lora_grads();
      double diff2 = 0, ref2 = 0, worst = 0;
      std::string worst_key;
      for (const LoraLayer& l : adapter.layers)
        for (bool is_a : {true, false}) {
          const std::string key = peft_tensor_key(l.role, l.layer, is_a);
          const SafetensorsTensor& t = ref_grads.get(key);
          const std::vector<int64_t> shape =
              is_a ? std::vector<int64_t>{adapter.config.r, l.in} : std::vector<int64_t>{l.out, adapter.config.r};
          ASSERT_EQ(t.shape, shape) << key;
          const std::vector<float> want = to_f32(t);
          const float* got = g.data() + (is_a ? l.a_offset : l.b_offset);
          double d2 = 0, r2 = 0;
          for (size_t i = 0; i < want.size(); ++i) {
            d2 += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
            r2 += static_cast<double>(want[i]) * want[i];
          }
          diff2 += d2;
          ref2 += r2;
          const double rel = std::sqrt(d2 / r2);
          if (rel > worst) worst = rel, worst_key = key;
        }
      const double rel = std::sqrt(diff2 / ref2);
      std::printf("step 1 LoRA gradients: relative norm error %.3e over all (|g_ref| = %.6f, fixture says %.6f); "
                  "worst tensor %.3e (%s)\n",
                  rel, std::sqrt(ref2), fx["step1_grad_norm"].get<double>(), worst, worst_key.c_str());
      EXPECT_LT(rel, 1e-3) << "worst tensor " << worst_key << " at " << worst;
    }

    adamw_update(ParamSegment{adapter.values.data(), pass.lora_grads().data(), m.data(), v.data(), n}, hyper, step);
  }
}

}  // namespace
}  // namespace frugal
