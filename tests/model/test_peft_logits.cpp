// PEFT reads what frugal writes: an adapter trained and written by frugal, loaded by PEFT onto
// transformers' SmolLM2 (tests/reference/make_peft_logits_fixture.py), gives frugal's logits.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "../unit/run_frugal.h"
#include "infer/session.h"
#include "io/peft_adapter.h"
#include "model/model.h"

namespace frugal {
namespace {

// Largest |frugal - PEFT| over the reference's token ids and logit columns.
double max_error_vs_peft(InferenceSession& session, const nlohmann::json& ref, int64_t vocab) {
  const std::vector<int32_t> ids = ref["ids"];
  const std::vector<int64_t> columns = ref["columns"];
  const std::vector<float>& logits = session.forward(ids.data(), static_cast<int64_t>(ids.size()), true);
  double max_err = 0;
  for (size_t t = 0; t < ids.size(); ++t)
    for (size_t k = 0; k < columns.size(); ++k)
      max_err = std::max(max_err, std::abs(logits[t * vocab + columns[k]] - ref["logits"][t][k].get<double>()));
  return max_err;
}

TEST(PeftLogits, FrugalAdapterThroughPeftGivesFrugalLogits) {
  std::ifstream in(test::fixture("peft_logits/reference.json"));
  const nlohmann::json ref = nlohmann::json::parse(in);
  auto model = load_model(test::model_cache("SmolLM2-135M-Instruct.Q4_1.gguf"));
  const std::string dir = test::fixture("peft_logits/adapter");
  LoraAdapter adapter = read_peft_adapter(dir, model->config);
  merge_lora_into(model->weights, adapter);
  InferenceSession session(*model, 64, Precision::F32);
  EXPECT_LT(max_error_vs_peft(session, ref, model->config.vocab_size), 1e-3);
  EXPECT_GT(ref["max_change_from_adapter"].get<double>(), 0.5);  // the adapter really changes the model

  // The fixture was written by frugal: today's writer must still produce the same bytes.
  const std::string again = std::string(::testing::TempDir()) + "frugal_peft_again";
  std::filesystem::remove_all(again);
  write_peft_adapter(again, adapter, model->config, "SmolLM2-135M-Instruct.Q4_1.gguf");
  EXPECT_EQ(test::read_file(again + "/adapter_model.safetensors"), test::read_file(dir + "/adapter_model.safetensors"));
}

// frugal serve keeps adapters unmerged (model/adapter_linears.h): the same adapter applied as
// scale * B (A x) beside the untouched base gives PEFT's logits too.
TEST(PeftLogits, UnmergedAdapterGivesPeftLogits) {
  std::ifstream in(test::fixture("peft_logits/reference.json"));
  const nlohmann::json ref = nlohmann::json::parse(in);
  auto model = load_model(test::model_cache("SmolLM2-135M-Instruct.Q4_1.gguf"));
  const LoraAdapter adapter = read_peft_adapter(test::fixture("peft_logits/adapter"), model->config);
  InferenceSession session(*model, 64, Precision::F32, &adapter);
  EXPECT_LT(max_error_vs_peft(session, ref, model->config.vocab_size), 1e-3);
}

}  // namespace
}  // namespace frugal
