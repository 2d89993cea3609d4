// PEFT adapter folders: an adapter with nonzero B written and read back is identical; the files have
// PEFT's names, shapes and config keys; fp16 / bf16 tensors and the other target_modules forms load;
// broken or unsupported folders fail naming the file and the key or tensor.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/half.h"
#include "io/peft_adapter.h"
#include "format/safetensors.h"
#include "model/model.h"
#include "test_paths.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

const LlamaConfig& stories_config() {
  static const LlamaConfig c = load_model(test::data_file("stories260K/stories260K.bin"),
                                          test::data_file("stories260K/tok512.bin"))->config;
  return c;
}

LoraAdapter trained_adapter(const std::string& targets, bool rslora, int64_t r = 4) {
  LoraConfig cfg;
  cfg.r = r;
  cfg.alpha = 8.0f;
  cfg.dropout = 0.05f;
  cfg.use_rslora = rslora;
  cfg.targets = parse_lora_targets(targets);
  LoraAdapter a = LoraAdapter::create(stories_config(), cfg);
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 0.1f);
  for (const LoraLayer& l : a.layers)
    for (int64_t i = 0; i < l.out * r; ++i) a.b(l)[i] = dist(rng);  // as if trained: B no longer zero
  return a;
}

std::string fresh_dir(const std::string& name) {
  const std::string dir = std::string(::testing::TempDir()) + "frugal_export_peft_" + name;
  fs::remove_all(dir);
  return dir;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

void write_json(const std::string& path, const nlohmann::json& j) { std::ofstream(path) << j.dump(2); }

void expect_same(const LoraAdapter& a, const LoraAdapter& b) {
  EXPECT_EQ(a.config.r, b.config.r);
  EXPECT_EQ(a.config.alpha, b.config.alpha);
  EXPECT_EQ(a.config.dropout, b.config.dropout);
  EXPECT_EQ(a.config.use_rslora, b.config.use_rslora);
  EXPECT_EQ(a.config.targets, b.config.targets);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    EXPECT_EQ(a.layers[i].role, b.layers[i].role);
    EXPECT_EQ(a.layers[i].layer, b.layers[i].layer);
    EXPECT_EQ(a.layers[i].in, b.layers[i].in);
    EXPECT_EQ(a.layers[i].out, b.layers[i].out);
    EXPECT_EQ(a.layers[i].a_offset, b.layers[i].a_offset);
    EXPECT_EQ(a.layers[i].b_offset, b.layers[i].b_offset);
  }
  EXPECT_EQ(a.values, b.values);
}

TEST(PeftAdapter, WritesPeftsLayoutAndReadsBackIdentically) {
  const LoraAdapter a = trained_adapter("all-linear", true);
  const std::string dir = fresh_dir("all");
  write_peft_adapter(dir, a, stories_config(), "karpathy/tinyllamas");

  const nlohmann::json cfg = read_json(dir + "/adapter_config.json");
  EXPECT_EQ(cfg["peft_type"], "LORA");
  EXPECT_EQ(cfg["task_type"], "CAUSAL_LM");
  EXPECT_EQ(cfg["r"], 4);
  EXPECT_EQ(cfg["lora_alpha"], 8.0);
  EXPECT_EQ(cfg["lora_dropout"], 0.05);  // the float's short form, as a user wrote it
  EXPECT_EQ(cfg["use_rslora"], true);
  EXPECT_EQ(cfg["use_dora"], false);
  EXPECT_EQ(cfg["bias"], "none");
  EXPECT_EQ(cfg["base_model_name_or_path"], "karpathy/tinyllamas");
  EXPECT_EQ(cfg["target_modules"],
            nlohmann::json({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}));
  EXPECT_TRUE(cfg["modules_to_save"].is_null());
  EXPECT_TRUE(cfg["rank_pattern"].empty());

  SafetensorsFile st(dir + "/adapter_model.safetensors");
  EXPECT_EQ(st.metadata().at("format"), "pt");
  EXPECT_EQ(st.tensors().size(), 2u * 7u * 5u);
  const SafetensorsTensor& qa = st.get("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  EXPECT_EQ(qa.dtype, SafeDtype::F32);
  EXPECT_EQ(qa.shape, (std::vector<int64_t>{4, 64}));
  EXPECT_EQ(st.get("base_model.model.model.layers.4.self_attn.k_proj.lora_B.weight").shape, (std::vector<int64_t>{32, 4}));
  EXPECT_EQ(st.get("base_model.model.model.layers.2.mlp.down_proj.lora_A.weight").shape, (std::vector<int64_t>{4, 172}));
  // Values as is: our B rows of q_proj are already in HF order.
  const LoraLayer& q0 = *a.find(WeightRole::Wq, 0);
  EXPECT_EQ(to_f32(st.get("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight")),
            std::vector<float>(a.b(q0), a.b(q0) + 64 * 4));

  expect_same(a, read_peft_adapter(dir, stories_config()));
}

TEST(PeftAdapter, SubsetOfModulesAndOtherTargetForms) {
  const LoraAdapter a = trained_adapter("q_proj,v_proj", false, 2);
  const std::string dir = fresh_dir("qv");
  write_peft_adapter(dir, a, stories_config(), "");
  EXPECT_EQ(read_json(dir + "/adapter_config.json")["target_modules"], nlohmann::json({"q_proj", "v_proj"}));
  expect_same(a, read_peft_adapter(dir, stories_config()));

  nlohmann::json cfg = read_json(dir + "/adapter_config.json");
  cfg["target_modules"] = ".*\\.(q_proj|v_proj)";  // a regex, as PEFT allows
  write_json(dir + "/adapter_config.json", cfg);
  expect_same(a, read_peft_adapter(dir, stories_config()));
  cfg["target_modules"] = {"self_attn.q_proj", "v_proj"};  // suffixes of module names
  write_json(dir + "/adapter_config.json", cfg);
  expect_same(a, read_peft_adapter(dir, stories_config()));
}

TEST(PeftAdapter, AcceptsHalfPrecisionTensors) {
  const LoraAdapter a = trained_adapter("all-linear", false);
  const std::string dir = fresh_dir("bf16");
  write_peft_adapter(dir, a, stories_config(), "");
  // Rewrite every tensor as bf16 (q_proj) or fp16 (the rest), as adapters trained in half precision are.
  std::vector<std::vector<uint16_t>> halves;
  std::vector<SafetensorsWriteTensor> tensors;
  {
    SafetensorsFile st(dir + "/adapter_model.safetensors");
    halves.reserve(st.tensors().size());
    for (const SafetensorsTensor& t : st.tensors()) {
      const bool bf16 = t.name.find("q_proj") != std::string::npos;
      std::vector<uint16_t>& h = halves.emplace_back();
      for (float x : to_f32(t)) h.push_back(bf16 ? float_to_bf16(x) : float_to_fp16(x));
      tensors.push_back({t.name, bf16 ? SafeDtype::BF16 : SafeDtype::F16, t.shape,
                         std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(h.data()), h.size() * 2)});
    }
  }
  write_safetensors(dir + "/adapter_model.safetensors", tensors, {{"format", "pt"}});
  const LoraAdapter b = read_peft_adapter(dir, stories_config());
  ASSERT_EQ(a.values.size(), b.values.size());
  for (const LoraLayer& l : a.layers) {
    const bool bf16 = l.role == WeightRole::Wq;
    const auto round = [&](float x) { return bf16 ? bf16_to_float(float_to_bf16(x)) : fp16_to_float(float_to_fp16(x)); };
    for (int64_t i = 0; i < l.out * 4; ++i) ASSERT_EQ(b.b(l)[i], round(a.b(l)[i]));
    for (int64_t i = 0; i < 4 * l.in; ++i) ASSERT_EQ(b.a(l)[i], round(a.a(l)[i]));
  }
}

// Writes a good folder, lets `mutate` break it, and checks the error names `file` and `needle`.
void expect_broken(const std::string& name, const std::function<void(const std::string&)>& mutate,
                   const std::string& file, const std::string& needle, const LlamaConfig& model = stories_config()) {
  const std::string dir = fresh_dir("broken_" + name);
  write_peft_adapter(dir, trained_adapter("q_proj,k_proj,v_proj,o_proj", false), stories_config(), "");
  mutate(dir);
  try {
    read_peft_adapter(dir, model);
    ADD_FAILURE() << name << ": no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(dir + "/" + file), std::string::npos) << name << ": " << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << name << ": " << msg;
  }
}

void edit_config(const std::string& dir, const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json cfg = read_json(dir + "/adapter_config.json");
  edit(cfg);
  write_json(dir + "/adapter_config.json", cfg);
}

TEST(PeftAdapter, BrokenFoldersNameTheFile) {
  expect_broken("no_config", [](const std::string& d) { fs::remove(d + "/adapter_config.json"); },
                "adapter_config.json", "cannot open");
  expect_broken("no_weights", [](const std::string& d) { fs::remove(d + "/adapter_model.safetensors"); },
                "adapter_model.safetensors", "missing");
  expect_broken("bad_json", [](const std::string& d) { std::ofstream(d + "/adapter_config.json") << "{\"r\": "; },
                "adapter_config.json", "JSON");
  expect_broken("wrong_r", [](const std::string& d) { edit_config(d, [](nlohmann::json& c) { c["r"] = 8; }); },
                "adapter_model.safetensors", "r = 8");
  expect_broken("ia3", [](const std::string& d) { edit_config(d, [](nlohmann::json& c) { c["peft_type"] = "IA3"; }); },
                "adapter_config.json", "peft_type");
  expect_broken("dora", [](const std::string& d) { edit_config(d, [](nlohmann::json& c) { c["use_dora"] = true; }); },
                "adapter_config.json", "use_dora");
  expect_broken("rank_pattern",
                [](const std::string& d) { edit_config(d, [](nlohmann::json& c) { c["rank_pattern"] = {{"q_proj", 8}}; }); },
                "adapter_config.json", "rank_pattern");
  expect_broken("alpha_pattern",
                [](const std::string& d) { edit_config(d, [](nlohmann::json& c) { c["alpha_pattern"] = {{"q_proj", 8}}; }); },
                "adapter_config.json", "alpha_pattern");
  expect_broken("lora_bias", [](const std::string& d) { edit_config(d, [](nlohmann::json& c) { c["lora_bias"] = true; }); },
                "adapter_config.json", "lora_bias");
  expect_broken("modules_to_save",
                [](const std::string& d) { edit_config(d, [](nlohmann::json& c) { c["modules_to_save"] = {"lm_head"}; }); },
                "adapter_config.json", "modules_to_save");
  expect_broken("pissa",
                [](const std::string& d) { edit_config(d, [](nlohmann::json& c) { c["init_lora_weights"] = "pissa"; }); },
                "adapter_config.json", "init_lora_weights");
  expect_broken("r_string", [](const std::string& d) { edit_config(d, [](nlohmann::json& c) { c["r"] = "4"; }); },
                "adapter_config.json", "r");
  expect_broken("unknown_target",
                [](const std::string& d) { edit_config(d, [](nlohmann::json& c) { c["target_modules"] = {"embed_tokens"}; }); },
                "adapter_config.json", "embed_tokens");
  expect_broken("bad_regex",
                [](const std::string& d) { edit_config(d, [](nlohmann::json& c) { c["target_modules"] = ".*(q_proj"; }); },
                "adapter_config.json", "does not compile");
  // A plain string is a regex over the whole module name, as in PEFT: "q_proj" alone matches nothing.
  expect_broken("partial_regex",
                [](const std::string& d) { edit_config(d, [](nlohmann::json& c) { c["target_modules"] = "q_proj"; }); },
                "adapter_config.json", "matches no linear layer");
  expect_broken("missing_module",
                [](const std::string& d) { edit_config(d, [](nlohmann::json& c) { c["target_modules"].push_back("up_proj"); }); },
                "adapter_model.safetensors", "layers.0.mlp.up_proj.lora_A.weight");
  expect_broken("untargeted_tensor",
                [](const std::string& d) { edit_config(d, [](nlohmann::json& c) { c["target_modules"] = {"q_proj", "k_proj", "v_proj"}; }); },
                "adapter_model.safetensors", "o_proj.lora_A.weight");
  // A different base (wider model): shapes no longer fit.
  LlamaConfig wider = stories_config();
  wider.dim = 128;
  wider.head_dim = 16;
  expect_broken("other_model", [](const std::string&) {}, "adapter_model.safetensors", "shape [4, 64], expected [4, 128]", wider);
  // DoRA magnitudes and bad dtypes in the tensor file.
  const auto add_tensor = [](const std::string& name, SafeDtype dtype) {
    return [name, dtype](const std::string& d) {
      std::vector<std::vector<uint8_t>> keep;
      std::vector<SafetensorsWriteTensor> tensors;
      SafetensorsFile st(d + "/adapter_model.safetensors");
      for (const SafetensorsTensor& t : st.tensors()) {
        keep.emplace_back(t.data, t.data + t.nbytes);
        const bool target = t.name.find("layers.1.self_attn.v_proj.lora_A") != std::string::npos && dtype != SafeDtype::F32;
        tensors.push_back({t.name, target ? dtype : t.dtype, t.shape, keep.back()});  // I32: same size as F32
      }
      std::vector<uint8_t> extra(32 * 4, 0);
      if (dtype == SafeDtype::F32) tensors.push_back({name, SafeDtype::F32, {32}, extra});
      write_safetensors(d + "/adapter_model.safetensors.new", tensors);
      fs::rename(d + "/adapter_model.safetensors.new", d + "/adapter_model.safetensors");
    };
  };
  expect_broken("dora_magnitude", add_tensor("base_model.model.model.layers.0.self_attn.k_proj.lora_magnitude_vector", SafeDtype::F32),
                "adapter_model.safetensors", "DoRA");
  expect_broken("int_tensor", add_tensor("", SafeDtype::I32), "adapter_model.safetensors", "v_proj.lora_A");
}

}  // namespace
}  // namespace frugal
