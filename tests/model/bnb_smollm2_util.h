// What the SmolLM2 bitsandbytes-folder tests share: the folder frugal writes (`frugal quantize -o`'s
// path: quantize the GGUF's linears, export a Hugging Face folder, read it back), frugal's logits for
// the fixture's prompts, and their comparison with transformers' on the sampled columns.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "infer/session.h"
#include "io/export_model.h"
#include "model/model.h"
#include "model/quantize_model.h"
#include "../unit/test_paths.h"

namespace frugal::test {

inline nlohmann::json read_fixture_json(const std::string& name) {
  std::ifstream in(fixture(name));
  return nlohmann::json::parse(in);
}

// SmolLM2-135M-Instruct's linears quantized, written as a bitsandbytes folder named `folder` in the
// test temp dir, and loaded back from it.
inline std::unique_ptr<Model> smollm2_through_bnb_folder(WeightQuant quant, bool double_quant, const std::string& folder) {
  auto source = load_model(model_cache("SmolLM2-135M-Instruct.Q4_1.gguf"));
  quantize_linears(source->weights, quant, double_quant);
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / folder;
  std::filesystem::remove_all(dir);
  export_hf(*source, dir.string(), ExportDtype::BF16);
  source.reset();
  return load_model(dir.string());
}

// frugal's logits for each of `prompts` (token id lists), all positions.
inline std::vector<std::vector<float>> prompt_logits(Model& model, const nlohmann::json& prompts, Precision precision) {
  std::vector<std::vector<float>> out;
  for (const auto& prompt : prompts) {
    const std::vector<int32_t> tokens = prompt;
    InferenceSession session(model, 64, precision);
    out.push_back(session.forward(tokens.data(), static_cast<int64_t>(tokens.size()), true));
  }
  return out;
}

struct SampledLogitsError {
  double max_err = 0;  // over the sampled columns at every position of every prompt
  int argmax_same = 0, positions = 0;
};

// `ours[p]` against `expected[p]` ({"logits": [position][sampled column], "argmax": [position]}).
inline SampledLogitsError compare_sampled_logits(const std::vector<std::vector<float>>& ours,
                                                 const nlohmann::json& expected, const std::vector<int64_t>& columns,
                                                 int64_t vocab) {
  SampledLogitsError e;
  for (size_t p = 0; p < ours.size(); ++p)
    for (size_t t = 0; t < expected[p]["argmax"].size(); ++t) {
      const float* row = &ours[p][t * vocab];
      for (size_t c = 0; c < columns.size(); ++c)
        e.max_err = std::max(e.max_err, std::abs(row[columns[c]] - expected[p]["logits"][t][c].get<double>()));
      e.argmax_same += std::max_element(row, row + vocab) - row == expected[p]["argmax"][t].get<int64_t>();
      ++e.positions;
    }
  return e;
}

}  // namespace frugal::test
