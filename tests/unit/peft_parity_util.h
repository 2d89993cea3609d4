// Reading the PEFT parity fixtures (tests/reference/make_peft_parity_fixture.py and
// make_family_fixtures.py write the same batches.json layout).
#pragma once
#include <nlohmann/json.hpp>

#include "data/batch.h"
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

}  // namespace frugal::test
