// Hugging Face folders (stories260K exported by transformers, tests/reference/make_stories260k_hf.py)
// must give transformers' logits; broken folders must fail naming the file and field.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "infer/session.h"
#include "model/model.h"
#include "run_frugal.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

const nlohmann::json& reference() {
  static const nlohmann::json j = [] {
    std::ifstream in(test::fixture("stories260k_hf/reference.json"));
    return nlohmann::json::parse(in);
  }();
  return j;
}

void expect_transformers_logits(const std::string& folder) {
  auto model = load_model(test::fixture("stories260k_hf/" + folder));
  EXPECT_EQ(model->format, ModelFormat::HfFolder);
  const std::vector<int32_t> tokens = reference()["tokens"];
  InferenceSession session(*model, 32, Precision::F32);
  const std::vector<float>& logits = session.forward(tokens.data(), static_cast<int64_t>(tokens.size()), true);
  double max_err = 0;
  for (size_t t = 0; t < tokens.size(); ++t)
    for (int v = 0; v < 512; ++v)
      max_err = std::max(max_err, std::abs(logits[t * 512 + v] - reference()[folder][t][v].get<double>()));
  EXPECT_LT(max_err, 1e-4) << folder;
}

TEST(HfModel, ShardedFp32FolderMatchesTransformers) { expect_transformers_logits("f32_sharded"); }
TEST(HfModel, Bf16FolderMatchesTransformers) { expect_transformers_logits("bf16"); }

TEST(HfModel, SameModelAsTheLlama2cCheckpoint) {
  auto hf = load_model(test::fixture("stories260k_hf/f32_sharded"));
  auto l2c = load_model(test::data_file("stories260K/stories260K.bin"), test::data_file("stories260K/tok512.bin"));
  EXPECT_EQ(hf->weights.layers[2].wq.data, l2c->weights.layers[2].wq.data);  // Q/K permuted once, correctly
  EXPECT_EQ(hf->weights.layers[4].wk.data, l2c->weights.layers[4].wk.data);
  // transformers 5 converts tok512 without a BOS post-processor, so compare the text tokens only.
  EXPECT_EQ(hf->tokenizer->encode("Once upon a time", false, false), l2c->tokenizer->encode("Once upon a time", false, false));
}

// Copies the good folder, lets `mutate` break it, and checks the error names `needle`.
void expect_broken(const std::string& name, const std::function<void(const fs::path&)>& mutate, const std::string& needle) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("frugal_hf_" + name);
  fs::remove_all(dir);
  fs::copy(test::fixture("stories260k_hf/bf16"), dir);
  mutate(dir);
  try {
    load_model(dir.string());
    ADD_FAILURE() << name << ": loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << name << ": " << e.what();
  }
}

void edit_config(const fs::path& dir, const std::function<void(nlohmann::json&)>& edit) {
  std::ifstream in(dir / "config.json");
  nlohmann::json j = nlohmann::json::parse(in);
  in.close();
  edit(j);
  std::ofstream(dir / "config.json") << j.dump();
}

TEST(HfModel, BrokenFoldersFailClearly) {
  expect_broken("no_config", [](const fs::path& d) { fs::remove(d / "config.json"); }, "config.json: cannot open");
  expect_broken("bad_json", [](const fs::path& d) { std::ofstream(d / "config.json") << "{ nope"; }, "invalid JSON");
  // Found by fuzz_hf_config: nlohmann throws out_of_range (not parse_error) for it, which escaped.
  expect_broken("number_out_of_range", [](const fs::path& d) { std::ofstream(d / "config.json") << "{\"rms_norm_eps\": 1e999}"; },
                "number overflow");
  // Found by UBSan through fuzz_hf_config: a float too large for the integer (or float) it is read
  // into was converted with a plain cast.
  expect_broken("huge_float_for_int", [](const fs::path& d) { edit_config(d, [](auto& j) { j["hidden_size"] = 6.4e38; }); },
                "hidden_size: is out of range");
  expect_broken("huge_for_float", [](const fs::path& d) { edit_config(d, [](auto& j) { j["rms_norm_eps"] = 1e300; }); },
                "rms_norm_eps: is out of range");
  expect_broken("no_weights", [](const fs::path& d) { fs::remove(d / "model.safetensors"); }, "no model.safetensors");
  expect_broken("missing_key", [](const fs::path& d) { edit_config(d, [](auto& j) { j.erase("hidden_size"); }); },
                "hidden_size: missing");
  expect_broken("wrong_shape", [](const fs::path& d) { edit_config(d, [](auto& j) { j["intermediate_size"] = 100; }); },
                "shape does not match");
  // Sizes far beyond what the files hold fail before anything is allocated (not std::bad_alloc).
  expect_broken("huge_ffn", [](const fs::path& d) { edit_config(d, [](auto& j) { j["intermediate_size"] = 1 << 30; }); },
                "M parameters, but the safetensors files hold only");
  expect_broken("bad_heads", [](const fs::path& d) { edit_config(d, [](auto& j) { j["num_key_value_heads"] = 3; }); },
                "key/value heads");
  expect_broken("arch", [](const fs::path& d) { edit_config(d, [](auto& j) { j["model_type"] = "gpt2"; }); },
                "unsupported model type");
  expect_broken("truncated", [](const fs::path& d) { fs::resize_file(d / "model.safetensors", 1000); },
                "model.safetensors");
  expect_broken("no_tokenizer", [](const fs::path& d) { fs::remove(d / "tokenizer.json"); }, "tokenizer.json");
}

}  // namespace
}  // namespace frugal
