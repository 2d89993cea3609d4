// RoPE scaling against transformers (tests/reference/make_rope_fixtures.py -> tests/fixtures/rope/):
// (a) inverse frequencies and attention factor of every type, for a spread of parameters, equal to
// transformers' ROPE_INIT_FUNCTIONS evaluated in double (1e-12 relative); (b) a tiny Llama per type
// (the llama3 family fixture's weights with each type's config.json): logits at positions up to 4x
// the original context through the inference session, loss and a rotary weight's gradient through
// the training pass, token-by-token decoding where the type depends on the length, and the same
// after exporting to a Hugging Face folder and to GGUF; (c) llama.cpp's GGUF of the llama3 family
// (rope_freqs tensor) at 4x its original context; and one-line errors on bad scaling settings.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "format/gguf_writer.h"
#include "format/safetensors.h"
#include "infer/session.h"
#include "io/export_model.h"
#include "io/gguf_lora.h"
#include "io/hf_rope.h"
#include "io/peft_adapter.h"
#include "model/context_extension.h"
#include "model/lora.h"
#include "model/model.h"
#include "model/training_pass.h"
#include "test_paths.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::string rope_fixture(const std::string& rel) {
  return test::fixture("rope/" + rel);
}
std::string family_hf() {
  return test::fixture("families/llama3/hf");
}

// A fresh folder under the test temp dir, removed again when the owner goes out of scope.
struct TempDirs {
  std::vector<std::string> made;
  std::string make(const std::string& name) {
    const std::string dir = ::testing::TempDir() + "frugal_rope_" + std::to_string(::getpid()) + "_" + name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    made.push_back(dir);
    return dir;
  }
  ~TempDirs() {
    for (const std::string& d : made) fs::remove_all(d);
  }
};

// ---------------------------------------------------------------- (a) frequencies

TEST(RopeScaling, FrequenciesAndAttentionFactorMatchTransformersInDouble) {
  const nlohmann::json fx = read_json(rope_fixture("inv_freq_cases.json"));
  int checked = 0;
  for (const nlohmann::json& c : fx["cases"]) {
    const nlohmann::json& config = c["config"];
    const nlohmann::json rope = config["rope_scaling"].is_object() ? config["rope_scaling"] : nlohmann::json::object();
    const int64_t head_dim = config["head_dim"];
    const std::string label = c.dump().substr(0, 160);
    const RopeScaling s = rope_scaling_from_hf(config, rope, head_dim, "case");
    EXPECT_EQ(rope_type_name(s.type), c["type"].get<std::string>()) << label;
    const int64_t seq_len = c["seq_len"].is_null() ? 0 : c["seq_len"].get<int64_t>();
    const RopeFrequencies f = rope_frequencies(s, config["rope_theta"].get<double>(), head_dim, seq_len);
    const std::vector<double> want = c["inv_freq"];
    ASSERT_EQ(f.inv_freq.size(), want.size()) << label;
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_NEAR(f.inv_freq[i], want[i], 1e-12 * std::abs(want[i])) << label << " i=" << i;
    const double att = c["attention_factor"];
    EXPECT_NEAR(f.attention_factor, att, 1e-12 * std::abs(att)) << label;
    ++checked;
  }
  EXPECT_GE(checked, 50);
}

// ---------------------------------------------------------------- (b) tiny models per type

struct RopeModels {
  nlohmann::json spec = read_json(rope_fixture("models.json"));
  SafetensorsFile expected{rope_fixture("expected.safetensors")};
  TempDirs temp;
  std::vector<int32_t> prompt() const { return spec["prompt"]; }
  // A folder with the family weights and tokenizer and this type's config.json.
  std::string folder(const std::string& type, const std::string& name = "") {
    const std::string dir = temp.make(name.empty() ? type : name);
    for (const auto& e : fs::directory_iterator(family_hf()))
      if (e.path().filename() != "config.json") fs::copy(e.path(), dir + "/" + e.path().filename().string());
    std::ofstream(dir + "/config.json") << spec["configs"][type].dump(1);
    return dir;
  }
};

// Largest |got - want| over the fixture's rows: `rows` [R, V] of transformers, `got` [T, V] by position.
double worst_at(const std::vector<float>& got, const std::vector<float>& want, const std::vector<int64_t>& positions,
                int64_t V, int64_t first_position = 0) {
  double worst = 0;
  for (size_t r = 0; r < positions.size(); ++r)
    for (int64_t v = 0; v < V; ++v)
      worst = std::max<double>(worst, std::abs(got[(positions[r] - first_position) * V + v] - want[r * V + v]));
  return worst;
}

// Logits of the whole prompt in one session call (transformers' full forward).
double session_error(Model& model, RopeModels& fx, const std::string& type) {
  const std::vector<int32_t> ids = fx.prompt();
  InferenceSession session(model, static_cast<int64_t>(ids.size()), Precision::F32);
  const std::vector<float>& got = session.forward(ids.data(), static_cast<int64_t>(ids.size()), true);
  return worst_at(got, to_f32(fx.expected.get("logits_" + type)), fx.spec["positions"], model.config.vocab_size);
}

class RopeModel : public ::testing::TestWithParam<std::string> {};

TEST_P(RopeModel, SessionLogitsMatchTransformersAtFourTimesTheOriginalContext) {
  RopeModels fx;
  auto model = load_model(fx.folder(GetParam()));
  EXPECT_EQ(rope_type_name(model->config.rope_scaling.type), GetParam());
  const double err = session_error(*model, fx, GetParam());
  EXPECT_LT(err, 1e-4);
  // The test can tell the types apart: they differ from the default type by whole logits.
  if (GetParam() != "default") {
    EXPECT_GT(fx.spec["ablations_max_abs_logit_diff"][GetParam() + "_vs_default"].get<double>(), 1.0);
  }
}

// The training forward (loss over the 255 targets) and backward (gradient of layer 0's k_proj,
// which only reaches it through the rotation and its attention factor).
TEST_P(RopeModel, TrainingPassLossAndGradientMatchTransformers) {
  RopeModels fx;
  auto model = load_model(fx.folder(GetParam()));
  const std::vector<int32_t> ids = fx.prompt();
  Batch batch;
  batch.B = 1, batch.T = static_cast<int64_t>(ids.size());
  for (int64_t t = 0; t < batch.T; ++t) {
    batch.tokens.push_back(ids[t]);
    batch.targets.push_back(t + 1 < batch.T ? ids[t + 1] : kIgnoreTarget);
    batch.positions.push_back(static_cast<int32_t>(t));
    batch.segments.push_back(0);
  }
  TrainingPass pass(*model, nullptr, {Precision::F32, false, true});
  pass.zero_grad();
  const int64_t count = batch.target_count();
  const double loss = pass.forward_backward(batch, 1.0f / static_cast<float>(count), 0).loss_sum / count;
  const double want_loss = fx.spec["loss"][GetParam()];
  EXPECT_NEAR(loss, want_loss, 1e-5 * want_loss);
  const std::vector<float> want = to_f32(fx.expected.get("kgrad_" + GetParam()));
  const std::vector<float>& got = pass.full_grads().layers[0].wk.data;
  ASSERT_EQ(got.size(), want.size());
  double d2 = 0, r2 = 0;
  for (size_t i = 0; i < want.size(); ++i) d2 += std::pow(got[i] - want[i], 2), r2 += std::pow(want[i], 2);
  EXPECT_LT(std::sqrt(d2 / r2), 1e-4);
}

// Dynamic NTK and LongRoPE depend on the length: decoding one token per call past the original
// context rotates each new token for the length so far and keeps the cached keys as they were,
// which is what transformers' cached generation does (and not its full forward, by whole logits).
TEST_P(RopeModel, TokenByTokenDecodingMatchesTransformersCachedGeneration) {
  const std::string type = GetParam();
  if (type != "dynamic" && type != "longrope") GTEST_SKIP() << "decoding equals the full forward for this type";
  RopeModels fx;
  auto model = load_model(fx.folder(type));
  const std::vector<int32_t> ids = fx.prompt();
  const int64_t V = model->config.vocab_size, from = fx.spec["decode_from"];
  const std::vector<int64_t> positions = fx.spec["decode_positions"];
  InferenceSession session(*model, static_cast<int64_t>(ids.size()), Precision::F32);
  std::vector<float> got(ids.size() * V);
  const std::vector<float>* logits = &session.forward(ids.data(), from);
  std::copy(logits->begin(), logits->end(), got.begin() + (from - 1) * V);
  for (int64_t t = from; t < static_cast<int64_t>(ids.size()); ++t) {
    logits = &session.forward(&ids[t], 1);
    std::copy(logits->begin(), logits->end(), got.begin() + t * V);
  }
  EXPECT_LT(worst_at(got, to_f32(fx.expected.get("decode_" + type)), positions, V), 1e-4);
  EXPECT_GT(fx.spec["ablations_max_abs_logit_diff"][type + "_decode_vs_full_forward"].get<double>(), 1.0);
}

// A saved model keeps its scaling: the exported folder (and GGUF, where GGUF can say it) still
// gives transformers' logits.
TEST_P(RopeModel, ExportedModelsKeepTheScaling) {
  const std::string type = GetParam();
  RopeModels fx;
  auto model = load_model(fx.folder(type));
  const std::string hf = fx.temp.make(type + "_export_hf");
  export_hf(*model, hf, ExportDtype::F32);
  // FRUGAL_KEEP_ROPE_EXPORTS=1 leaves the folder for tests/reference/check_rope_export.py.
  if (std::getenv("FRUGAL_KEEP_ROPE_EXPORTS")) fx.temp.made.pop_back();
  auto from_hf = load_model(hf);
  EXPECT_LT(session_error(*from_hf, fx, type), 1e-4) << "config.json: " << test::read_file(hf + "/config.json");
  const std::string gguf = fx.temp.make(type + "_export_gguf") + "/model.gguf";
  if (type == "dynamic") {
    try {
      export_gguf(*load_model(fx.folder(type, type + "_gguf_vocab"), test::fixture("families/llama3/model.gguf")), gguf,
                  ExportDtype::F32);
      ADD_FAILURE() << "dynamic NTK written to GGUF";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("rope_scaling: dynamic NTK RoPE scaling has no GGUF form"),
                std::string::npos)
          << e.what();
    }
    return;
  }
  // (The HF folder's tokenizer.json has no GGUF pre-tokenizer name; the family GGUF's tokenizer does.)
  auto with_gguf_vocab = load_model(fx.folder(type, type + "_gguf_vocab"), test::fixture("families/llama3/model.gguf"));
  export_gguf(*with_gguf_vocab, gguf, ExportDtype::F32);
  auto from_gguf = load_model(gguf);
  EXPECT_EQ(from_gguf->config.rope_scaling.type == RopeType::Default && type == "llama3"
                ? "llama3"
                : rope_type_name(from_gguf->config.rope_scaling.type),
            type);  // GGUF holds Llama 3 as rope_freqs divisors on the default type
  // (GGUF stores LongRoPE's lists and YaRN's attention factor in F32: still within fp32 noise.)
  EXPECT_LT(session_error(*from_gguf, fx, type), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Types, RopeModel,
                         ::testing::Values("default", "linear", "dynamic", "yarn", "longrope", "llama3"),
                         [](const auto& info) { return info.param; });

// ---------------------------------------------------------------- (c) llama.cpp's GGUF with rope_freqs

// The llama3 family's GGUF, converted by llama.cpp (Llama 3's scaling only as the rope_freqs
// tensor), at 4x the original context of 64: transformers' logits from the HF folder.
TEST(RopeGguf, Llama3RopeFreqsGgufMatchesTransformersAtFourTimesTheOriginalContext) {
  RopeModels fx;
  auto model = load_model(test::fixture("families/llama3/model.gguf"));
  ASSERT_EQ(model->config.rope_scaling.freq_divisors.size(), 8u);
  EXPECT_LT(session_error(*model, fx, "llama3"), 1e-4);
}

// ---------------------------------------------------------------- (d) context extension (training's rope_scaling key)

ContextExtension extension_of_fixture(const RopeModels& fx, const std::string& type) {
  const nlohmann::json& config = fx.spec["configs"][type];
  const nlohmann::json& rope = config["rope_scaling"];
  ContextExtension e;
  e.type = *rope_type_from_name(type);
  e.factor = rope["factor"];
  // transformers' dynamic stretches from max_position_embeddings, YaRN from its own key.
  e.original_context = type == "dynamic" ? config["max_position_embeddings"].get<int64_t>()
                                         : rope.value("original_max_position_embeddings", int64_t{0});
  return e;
}

// The key put on a model without scaling gives the model transformers builds from a config.json
// with that scaling: logits at 4x the original context and the training loss.
TEST(RopeContextExtension, KeyOnAnUnscaledModelIsTransformersScaledModel) {
  RopeModels fx;
  for (const std::string type : {"linear", "dynamic", "yarn"}) {
    auto model = load_model(fx.folder("default", "extend_" + type));
    ASSERT_FALSE(model->config.rope_scaling.scales());
    const ContextExtension e = extension_of_fixture(fx, type);
    extend_context(model->config, e, "config.yaml");
    EXPECT_EQ(rope_type_name(model->config.rope_scaling.type), type);
    // linear and YaRN reach original x factor (linear's original: the model's 256); dynamic keeps
    // the length past which it rescales, as transformers reads max_position_embeddings.
    EXPECT_EQ(model->config.context_length, type == "linear" ? 1024 : type == "yarn" ? 256 : 64) << type;
    EXPECT_LT(session_error(*model, fx, type), 1e-4) << type;
  }
}

TEST(RopeContextExtension, AdapterFilesCarryTheExtensionAndLoadsApplyIt) {
  RopeModels fx;
  auto model = load_model(fx.folder("default"));
  LoraConfig lc;
  lc.targets = parse_lora_targets("q_proj,v_proj");
  LoraAdapter adapter = LoraAdapter::create(model->config, lc);
  adapter.context_extension = {RopeType::Yarn, 4.0, 64};
  const std::string dir = fx.temp.make("adapter");
  write_peft_adapter(dir, adapter, model->config, "base");
  EXPECT_EQ(read_peft_adapter(dir, model->config).context_extension, adapter.context_extension);
  // PEFT's reader ignores safetensors metadata; adapter_config.json keeps only keys every PEFT knows.
  EXPECT_EQ(test::read_file(dir + "/adapter_config.json").find("rope"), std::string::npos);
  write_gguf_lora(dir + "/adapter.gguf", adapter, model->config, "base");
  EXPECT_EQ(read_gguf_lora(dir + "/adapter.gguf", model->config).context_extension, adapter.context_extension);
  adapter.context_extension = {RopeType::Linear, 2.0, 0};
  write_gguf_lora(dir + "/linear.gguf", adapter, model->config, "base");
  EXPECT_EQ(read_gguf_lora(dir + "/linear.gguf", model->config).context_extension, adapter.context_extension);
  // An adapter without one carries none.
  adapter.context_extension = {};
  write_peft_adapter(dir + "/plain", adapter, model->config, "base");
  EXPECT_FALSE(read_peft_adapter(dir + "/plain", model->config).context_extension.extends());
}

TEST(RopeContextExtension, RefusesToStackOnAScaledModelOrUntrainableTypes) {
  RopeModels fx;
  auto scaled = load_model(fx.folder("llama3"));
  const auto error_of = [](LlamaConfig c, ContextExtension e) -> std::string {
    try {
      extend_context(c, e, "config.yaml");
    } catch (const Error& err) {
      return err.what();
    }
    return "";
  };
  EXPECT_NE(error_of(scaled->config, {RopeType::Linear, 2.0, 0})
                .find("config.yaml: rope_scaling: the model already scales its RoPE (llama3)"),
            std::string::npos);
  auto plain = load_model(fx.folder("default", "plain"));
  EXPECT_NE(error_of(plain->config, {RopeType::LongRope, 2.0, 0})
                .find("rope_scaling.type: longrope cannot be chosen for training"),
            std::string::npos);
  LlamaConfig no_context = plain->config;
  no_context.context_length = 0;
  EXPECT_NE(error_of(no_context, {RopeType::Yarn, 2.0, 0})
                .find("rope_scaling.original_max_position_embeddings: missing"),
            std::string::npos);
  // The do-nothing extension changes nothing.
  LlamaConfig same = plain->config;
  extend_context(same, {}, "config.yaml");
  EXPECT_EQ(same.context_length, plain->config.context_length);
}

// ---------------------------------------------------------------- bad input

void expect_one_line_error(const std::string& path, const std::string& expect) {
  try {
    load_model(path);
    ADD_FAILURE() << expect << ": loaded";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(expect), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

TEST(RopeErrors, BadConfigJsonScalingFailsInOneLineNamingKeyAndValue) {
  RopeModels fx;
  const struct {
    const char* name;
    nlohmann::json rope_scaling;
    const char* expect;
  } cases[] = {
      {"unknown", {{"rope_type", "ntk-by-parts"}, {"factor", 2.0}}, "rope_scaling.rope_type: 'ntk-by-parts' is not"},
      {"old_spelling_unknown", {{"type", "su2"}, {"factor", 2.0}}, "rope_scaling.type: 'su2'"},
      {"factor_zero", {{"rope_type", "linear"}, {"factor", 0.0}}, "rope_scaling.factor: 0 must be >= 1"},
      {"factor_negative", {{"rope_type", "dynamic"}, {"factor", -2.0}}, "rope_scaling.factor: -2 must be >= 1"},
      {"factor_below_one", {{"rope_type", "yarn"}, {"factor", 0.5}}, "rope_scaling.factor: 0.5 must be >= 1 for yarn"},
      {"no_factor", {{"rope_type", "linear"}}, "rope_scaling.factor: missing"},
      {"llama3_no_original",
       {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0}},
       "rope_scaling.original_max_position_embeddings: missing"},
      {"longrope_short_list",
       {{"rope_type", "longrope"}, {"factor", 4.0}, {"short_factor", {1.0, 1.0}}, {"long_factor", {1.0, 1.0}}},
       "rope_scaling.short_factor: 2 values, expected head_dim/2 = 8"},
  };
  for (const auto& c : cases) {
    const std::string dir = fx.folder("default", std::string("bad_") + c.name);
    nlohmann::json config = fx.spec["configs"]["default"];
    config["rope_scaling"] = c.rope_scaling;
    std::ofstream(dir + "/config.json") << config.dump();
    expect_one_line_error(dir, c.expect);
  }
  // Dynamic NTK with no max_position_embeddings has no original length to stretch from.
  const std::string dir = fx.folder("dynamic", "bad_dynamic_no_length");
  nlohmann::json config = fx.spec["configs"]["dynamic"];
  config.erase("max_position_embeddings");
  std::ofstream(dir + "/config.json") << config.dump();
  expect_one_line_error(dir, "max_position_embeddings: missing");
}

TEST(RopeErrors, BadGgufScalingFailsInOneLineNamingKeyAndValue) {
  auto model = load_model(family_hf());
  const LlamaConfig& c = model->config;
  TempDirs temp;
  const std::string dir = temp.make("bad_gguf");
  const auto write = [&](const std::string& name, const std::function<void(GgufWriter&)>& tweak) {
    GgufWriter w;
    set_gguf_model_metadata(w, c, "", ExportDtype::F32);
    w.add_tensor("token_embd.weight", {c.vocab_size, c.dim}, GgmlType::F32,
                 std::span<const float>(model->weights.token_embedding.data));
    tweak(w);
    w.write(dir + "/" + name);
    return dir + "/" + name;
  };
  expect_one_line_error(write("short_freqs.gguf",
                              [](GgufWriter& w) {
                                w.add_tensor("rope_freqs.weight", {3}, GgmlType::F32, std::vector<float>{1, 2, 3});
                              }),
                        "rope_freqs.weight: must be F32 with head_dim/2 = 8 values, got shape [3]");
  expect_one_line_error(
      write("unknown_type.gguf", [](GgufWriter& w) { w.set_string("llama.rope.scaling.type", "ntk"); }),
      "llama.rope.scaling.type: 'ntk' is not a RoPE scaling type");
  expect_one_line_error(write("factor_zero.gguf",
                              [](GgufWriter& w) {
                                w.set_string("llama.rope.scaling.type", "linear");
                                w.set_f32("llama.rope.scaling.factor", 0.0f);
                              }),
                        "llama.rope.scaling.factor: 0 must be >= 1");
  // Without a type, a factor means linear scaling (as llama.cpp reads it).
  expect_one_line_error(
      write("implied_linear.gguf", [](GgufWriter& w) { w.set_f32("llama.rope.scaling.factor", 0.5f); }),
      "llama.rope.scaling.factor: 0.5 must be >= 1 for linear");
  expect_one_line_error(write("yarn_no_original.gguf",
                              [](GgufWriter& w) {
                                w.set_string("llama.rope.scaling.type", "yarn");
                                w.set_f32("llama.rope.scaling.factor", 4.0f);
                              }),
                        "llama.rope.scaling.original_context_length: missing");
}

}  // namespace
}  // namespace frugal
