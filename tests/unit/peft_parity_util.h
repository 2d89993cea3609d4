// Reading the PEFT parity fixtures (tests/reference/make_peft_parity_fixture.py and
// make_family_fixtures.py write the same batches.json layout).
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "data/batch.h"
#include "format/safetensors.h"
#include "io/peft_adapter.h"
#include "model/training_pass.h"
#include "train/optimizer.h"

namespace frugal::test {

// A fixture micro-batch as the trainer sees it: HF labels (unshifted, -100 on prompt and padding)
// become next-token targets, targets[t] = labels[t + 1].
inline Batch peft_fixture_batch(const nlohmann::json& b, int32_t pad_id) {
  const auto ids = b["input_ids"].get<std::vector<std::vector<int32_t>>>();
  const auto labels = b["labels"].get<std::vector<std::vector<int32_t>>>();
  const auto mask = b["attention_mask"].get<std::vector<std::vector<int32_t>>>();
  Batch batch;
  batch.B = static_cast<int64_t>(ids.size());
  batch.T = static_cast<int64_t>(ids[0].size());
  for (int64_t r = 0; r < batch.B; ++r)
    for (int64_t t = 0; t < batch.T; ++t) {
      const bool real = mask[r][t] != 0;
      batch.tokens.push_back(real ? ids[r][t] : pad_id);
      batch.targets.push_back(t + 1 < batch.T ? labels[r][t + 1] : kIgnoreTarget);
      batch.positions.push_back(static_cast<int32_t>(t));
      batch.segments.push_back(real ? 0 : -1);
    }
  return batch;
}

// Every micro-batch of a batches.json, and its AdamW settings.
inline std::vector<Batch> peft_fixture_batches(const nlohmann::json& fx) {
  std::vector<Batch> batches;
  for (const auto& b : fx["batches"]) batches.push_back(peft_fixture_batch(b, fx["pad_id"].get<int32_t>()));
  return batches;
}

inline AdamWHyper peft_fixture_adamw(const nlohmann::json& fx) {
  return {fx["lr"].get<double>(), fx["betas"][0].get<double>(), fx["betas"][1].get<double>(), fx["eps"].get<double>(),
          fx["weight_decay"].get<double>()};
}

// Repeats the fixture's PEFT run in frugal: its AdamW steps on its batches (step s uses batch
// s % batches), fp32, no accumulation. Every step's loss must be within 0.5% of PEFT's and the
// step-1 LoRA gradients within 1e-3 relative norm error (`ref_grads`, keyed like PEFT's tensors).
inline void expect_lora_parity(Model& model, LoraAdapter& adapter, const nlohmann::json& fx,
                               const SafetensorsFile& ref_grads, const std::string& label) {
  const std::vector<Batch> batches = peft_fixture_batches(fx);
  const std::vector<double> ref_losses = fx["losses"];
  TrainingPass pass(model, &adapter, {Precision::F32, false, false});
  const size_t n = adapter.values.size();
  std::vector<float> m(n, 0.0f), v(n, 0.0f);
  const AdamWHyper hyper = peft_fixture_adamw(fx);
  for (int64_t step = 1; step <= static_cast<int64_t>(ref_losses.size()); ++step) {
    const Batch& batch = batches[(step - 1) % batches.size()];
    const int64_t count = batch.target_count();
    pass.zero_grad();
    const CrossEntropyResult r = pass.forward_backward(batch, 1.0f / static_cast<float>(count), 0);
    EXPECT_EQ(r.count, count) << label;
    const double loss = r.loss_sum / static_cast<double>(count);
    const double ref = ref_losses[step - 1];
    std::printf("%s step %2lld: loss frugal %.6f  PEFT %.6f  rel diff %.2e\n", label.c_str(),
                static_cast<long long>(step), loss, ref, std::abs(loss - ref) / ref);
    EXPECT_LT(std::abs(loss - ref) / ref, 5e-3) << label << " step " << step << ": frugal " << loss << ", PEFT " << ref;
    if (step == 1) {
      double diff2 = 0, ref2 = 0, worst = 0;
      std::string worst_key;
      for (const LoraLayer& l : adapter.layers)
        for (bool is_a : {true, false}) {
          const std::string key = peft_tensor_key(l.role, l.layer, is_a);
          const SafetensorsTensor& t = ref_grads.get(key);
          const std::vector<int64_t> shape =
              is_a ? std::vector<int64_t>{adapter.config.r, l.in} : std::vector<int64_t>{l.out, adapter.config.r};
          EXPECT_EQ(t.shape, shape) << key;
          if (t.shape != shape) continue;
          const std::vector<float> want = to_f32(t);
          const float* got = pass.lora_grads().data() + (is_a ? l.a_offset : l.b_offset);
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
      std::printf("%s step 1 LoRA gradients: relative norm error %.3e over all (|g_ref| = %.6f, fixture says %.6f); "
                  "worst tensor %.3e (%s)\n",
                  label.c_str(), rel, std::sqrt(ref2), fx["step1_grad_norm"].get<double>(), worst, worst_key.c_str());
      EXPECT_LT(rel, 1e-3) << label << ": worst tensor " << worst_key << " at " << worst;
    }
    adamw_update(ParamSegment{adapter.values.data(), pass.lora_grads().data(), m.data(), v.data(), n}, hyper, step);
  }
}

}  // namespace frugal::test
