// A frugal-written 8-bit (LLM.int8) checkpoint of SmolLM2-135M-Instruct loads in transformers with
// bitsandbytes and gives frugal's logits: tests/reference/make_bnb_int8_fixtures.py ran `frugal
// quantize --type int8 -o` and stored transformers' logits on that folder (fp32 compute: each weight
// dequantized by bitsandbytes' int8_vectorwise_dequant, then a plain fp32 product); this test writes
// the folder the same way, reloads it in frugal and compares in fp32.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "infer/session.h"
#include "io/export_model.h"
#include "model/model.h"
#include "model/quantize_model.h"
#include "../unit/test_paths.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

TEST(BnbInt8SmolLM2, FrugalWrittenInt8CheckpointGivesTransformersLogits) {
  std::ifstream in(test::fixture("bnb_int8/smollm2_int8.json"));
  const nlohmann::json ref = nlohmann::json::parse(in);
  auto source = load_model(test::model_cache("SmolLM2-135M-Instruct.Q4_1.gguf"));
  quantize_linears(source->weights, WeightQuant::kInt8, false);
  const fs::path dir = fs::path(::testing::TempDir()) / "frugal_bnb_int8_smollm2";
  fs::remove_all(dir);
  export_hf(*source, dir.string(), ExportDtype::BF16);
  source.reset();
  auto model = load_model(dir.string());
  const Matrix& down = model->weights.layers[7].down;
  ASSERT_TRUE(down.packed && down.packed->int8_rows() && down.data.empty());

  const std::vector<int64_t> columns = ref["columns"];
  const int64_t V = model->config.vocab_size;
  double max_err = 0;
  int argmax_same = 0, positions = 0;
  for (size_t p = 0; p < ref["prompts"].size(); ++p) {
    const std::vector<int32_t> tokens = ref["prompts"][p];
    InferenceSession session(*model, 64, Precision::F32);
    const std::vector<float>& logits = session.forward(tokens.data(), static_cast<int64_t>(tokens.size()), true);
    const nlohmann::json& expected = ref["f32"][p];
    for (size_t t = 0; t < tokens.size(); ++t) {
      const float* row = &logits[t * V];
      for (size_t c = 0; c < columns.size(); ++c)
        max_err = std::max(max_err, std::abs(row[columns[c]] - expected["logits"][t][c].get<double>()));
      argmax_same += std::max_element(row, row + V) - row == expected["argmax"][t].get<int64_t>();
      ++positions;
    }
  }
  std::printf("SmolLM2 int8 vs transformers fp32: max |logit error| %.3g, same argmax at %d of %d positions\n", max_err,
              argmax_same, positions);
  EXPECT_LT(max_err, 1e-3);
  EXPECT_EQ(argmax_same, positions);
}

}  // namespace
}  // namespace frugal
