#include "io/peft_adapter.h"

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_number.h"
#include "core/read_file.h"
#include "format/gguf_writer.h"
#include "format/safetensors.h"
#include "io/tensor_names.h"

namespace frugal {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kConfigName = "adapter_config.json";
constexpr const char* kWeightsName = "adapter_model.safetensors";
constexpr WeightRole kLinearRoles[] = {WeightRole::Wq,   WeightRole::Wk, WeightRole::Wv,  WeightRole::Wo,
                                       WeightRole::Gate, WeightRole::Up, WeightRole::Down};


// The float's shortest decimal form as a double: PEFT's config then says 0.05, not 0.05000000074505806.
double json_number(float x) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, x).ptr;
  return std::strtod(std::string(buf, end).c_str(), nullptr);
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

json read_json(const std::string& path) {
  const std::string text = read_whole_file(path, "cannot open (not a PEFT adapter folder?)");
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    fail(path, "", std::string("not valid JSON: ") + e.what());
  }
}

bool present(const json& j, const char* key) { return j.contains(key) && !j[key].is_null(); }

// A "feature" key that must be absent, null, false or empty for us to reproduce the adapter exactly.
void refuse_if_set(const json& j, const char* key, const std::string& path, const std::string& why) {
  if (!present(j, key)) return;
  const json& v = j[key];
  const bool set = v.is_boolean() ? v.get<bool>() : (v.is_object() || v.is_array() || v.is_string()) ? !v.empty() : true;
  if (set) fail(path, key, why + " is not supported (value " + v.dump() + ")");
}

// Which modules target_modules selects: a list of names matched as PEFT does (equal to the module
// name or to its last components), or one string that is "all-linear" or a regex fully matching it.
std::set<std::pair<int64_t, WeightRole>> targeted_modules(const json& config, const LlamaConfig& model,
                                                          const std::string& path) {
  if (!present(config, "target_modules")) fail(path, "target_modules", "missing");
  const json& tm = config["target_modules"];
  std::set<std::pair<int64_t, WeightRole>> out;
  auto matches_suffix = [](const std::string& module, const std::string& name) {
    return module == name ||
           (module.size() > name.size() && module.compare(module.size() - name.size(), name.size(), name) == 0 &&
            module[module.size() - name.size() - 1] == '.');
  };
  if (tm.is_string()) {
    const std::string spec = tm.get<std::string>();
    if (spec == "all-linear") {
      for (int64_t layer = 0; layer < model.n_layers; ++layer)
        for (WeightRole role : kLinearRoles) out.insert({layer, role});
      return out;
    }
    // PEFT applies re.fullmatch to each module name; PCRE2 anchored at both ends does the same.
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(spec.data()), spec.size(),
                                   PCRE2_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED, &error, &error_offset, nullptr);
    if (!re) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof message);
      fail(path, "target_modules", "regex '" + spec + "' does not compile at offset " + std::to_string(error_offset) +
                                       ": " + reinterpret_cast<const char*>(message));
    }
    pcre2_match_data* match = pcre2_match_data_create_from_pattern(re, nullptr);
    for (int64_t layer = 0; layer < model.n_layers; ++layer)
      for (WeightRole role : kLinearRoles) {
        const std::string module = hf_module_name(role, layer);
        if (pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(module.data()), module.size(), 0, 0, match, nullptr) >= 0)
          out.insert({layer, role});
      }
    pcre2_match_data_free(match);
    pcre2_code_free(re);
    if (out.empty()) fail(path, "target_modules", "regex '" + spec + "' matches no linear layer of the model");
    return out;
  }
  if (!tm.is_array()) fail(path, "target_modules", "must be a list of module names or a string");
  for (const json& entry : tm) {
    if (!entry.is_string()) fail(path, "target_modules", "entries must be strings");
    const std::string name = entry.get<std::string>();
    bool any = false;
    for (int64_t layer = 0; layer < model.n_layers; ++layer)
      for (WeightRole role : kLinearRoles)
        if (matches_suffix(hf_module_name(role, layer), name)) {
          out.insert({layer, role});
          any = true;
        }
    if (!any)
      fail(path, "target_modules",
           "'" + name + "' is not a linear layer we can adapt (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
  }
  return out;
}

// Drops modules of layers outside layers_to_transform and modules named in exclude_modules.
void apply_layer_filters(std::set<std::pair<int64_t, WeightRole>>& modules, const json& config, const std::string& path) {
  if (present(config, "layers_to_transform")) {
    const json& ltt = config["layers_to_transform"];
    std::set<int64_t> keep;
    if (ltt.is_number_integer()) keep.insert(ltt.get<int64_t>());
    else if (ltt.is_array())
      for (const json& l : ltt) {
        if (!l.is_number_integer()) fail(path, "layers_to_transform", "entries must be integers");
        keep.insert(l.get<int64_t>());
      }
    else fail(path, "layers_to_transform", "must be an integer or a list of integers");
    std::erase_if(modules, [&](const auto& m) { return !keep.count(m.first); });
  }
  if (present(config, "exclude_modules")) {
    const json& ex = config["exclude_modules"];
    if (!ex.is_array()) fail(path, "exclude_modules", "only a list of names is supported");
    for (const json& e : ex) {
      if (!e.is_string()) fail(path, "exclude_modules", "entries must be strings");
      const std::string name = e.get<std::string>();
      std::erase_if(modules, [&](const auto& m) {
        const std::string module = hf_module_name(m.second, m.first);
        return module == name || (module.size() > name.size() && module.ends_with("." + name));
      });
    }
  }
}

// The training run's rope_scaling, in transformers' spelling: {"rope_type": "linear", "factor": 4.0,
// "original_max_position_embeddings": 2048}.
const char* const kRopeScalingMetadata = "rope_scaling";

std::string rope_scaling_metadata(const ContextExtension& e) {
  nlohmann::ordered_json j;
  j["rope_type"] = rope_type_name(e.type);
  j["factor"] = e.factor;
  j["original_max_position_embeddings"] = e.original_context;
  return j.dump();
}

ContextExtension context_extension_from_metadata(const std::string& text, const std::string& path) {
  const std::string where = std::string("__metadata__.") + kRopeScalingMetadata;
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(path, where, std::string("not valid JSON: ") + e.what());
  }
  ContextExtension e;
  if (!j.is_object() || !j.contains("rope_type") || !j["rope_type"].is_string() || !j.contains("factor") ||
      !j["factor"].is_number() || !j.contains("original_max_position_embeddings") ||
      !j["original_max_position_embeddings"].is_number_integer())
    fail(path, where, "expected {\"rope_type\": ..., \"factor\": ..., \"original_max_position_embeddings\": ...}");
  const std::optional<RopeType> type = rope_type_from_name(j["rope_type"].get<std::string>());
  if (!type) fail(path, where + ".rope_type", "unknown RoPE scaling type " + j["rope_type"].dump());
  e.type = *type;
  e.factor = j["factor"].get<double>();
  e.original_context = j["original_max_position_embeddings"].get<int64_t>();
  return e;
}

}  // namespace

std::string peft_tensor_key(WeightRole role, int64_t layer, bool is_a) {
  return "base_model.model." + hf_module_name(role, layer) + (is_a ? ".lora_A.weight" : ".lora_B.weight");
}

void write_peft_adapter(const std::string& dir, const LoraAdapter& adapter, const LlamaConfig& model,
                        const std::string& base_model_name_or_path) {
  const LoraConfig& c = adapter.config;
  if (adapter.layers.empty()) fail(dir, "", "the adapter has no layers to write");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(dir, "", "cannot create the folder: " + ec.message());

  std::vector<SafetensorsWriteTensor> tensors;
  std::set<WeightRole> roles;
  for (const LoraLayer& l : adapter.layers) {
    if (l.layer < 0 || l.layer >= model.n_layers || l.in != linear_in_features(model, l.role) || l.out != linear_out_features(model, l.role))
      fail(dir, hf_module_name(l.role, l.layer), "adapter shape does not match the base model's config");
    roles.insert(l.role);
    const auto bytes = [](const float* p, int64_t n) {
      return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(p), static_cast<size_t>(n) * sizeof(float));
    };
    tensors.push_back({peft_tensor_key(l.role, l.layer, true), SafeDtype::F32, {c.r, l.in}, bytes(adapter.a(l), c.r * l.in)});
    tensors.push_back({peft_tensor_key(l.role, l.layer, false), SafeDtype::F32, {l.out, c.r}, bytes(adapter.b(l), l.out * c.r)});
  }
  std::map<std::string, std::string> metadata{{"format", "pt"}};
  // In the weights' metadata rather than adapter_config.json, whose unknown keys older PEFT versions
  // refuse: PEFT ignores it, frugal applies it to the base when it loads the adapter.
  if (adapter.context_extension.extends())
    metadata[kRopeScalingMetadata] = rope_scaling_metadata(adapter.context_extension);
  write_safetensors(dir + "/" + kWeightsName, tensors, metadata);

  // target_modules: the short names, in the canonical order, of every role that has an adapter.
  json targets = json::array();
  for (WeightRole role : kLinearRoles)
    if (roles.count(role)) targets.push_back(hf_target_name(role));
  // Only keys every PEFT version knows: older versions refuse unknown ones.
  nlohmann::ordered_json config;
  config["alpha_pattern"] = json::object();
  config["base_model_name_or_path"] = base_model_name_or_path;
  config["bias"] = "none";
  config["fan_in_fan_out"] = false;
  config["inference_mode"] = true;
  config["init_lora_weights"] = true;
  config["layers_pattern"] = nullptr;
  config["layers_to_transform"] = nullptr;
  config["lora_alpha"] = json_number(c.alpha);
  config["lora_dropout"] = json_number(c.dropout);
  config["modules_to_save"] = nullptr;
  config["peft_type"] = "LORA";
  config["r"] = c.r;
  config["rank_pattern"] = json::object();
  config["revision"] = nullptr;
  config["target_modules"] = targets;
  config["task_type"] = "CAUSAL_LM";
  config["use_dora"] = false;
  config["use_rslora"] = c.use_rslora;
  write_file_atomically(dir + "/" + kConfigName, config.dump(2) + "\n");
}

LoraAdapter read_peft_adapter(const std::string& dir, const LlamaConfig& model) {
  const std::string config_path = dir + "/" + kConfigName;
  const std::string weights_path = dir + "/" + kWeightsName;
  const json config = read_json(config_path);
  if (!config.is_object()) fail(config_path, "", "must be a JSON object");

  LoraAdapter adapter;
  LoraConfig& c = adapter.config;
  std::set<std::pair<int64_t, WeightRole>> targeted;
  try {
    const std::string peft_type = present(config, "peft_type") ? config["peft_type"].get<std::string>() : "";
    if (peft_type != "LORA") fail(config_path, "peft_type", "expected \"LORA\", found \"" + peft_type + "\"");
    if (present(config, "task_type") && config["task_type"].get<std::string>() != "CAUSAL_LM")
      fail(config_path, "task_type", "only CAUSAL_LM adapters are supported, found " + config["task_type"].dump());
    if (!present(config, "r") || !config["r"].is_number_integer() || config["r"].get<int64_t>() <= 0)
      fail(config_path, "r", "missing or not a positive integer");
    c.r = config["r"].get<int64_t>();
    for (const char* key : {"lora_alpha", "lora_dropout"})
      if (present(config, key) && !json_fits<float>(config[key])) fail(config_path, key, "must be a number in float's range");
    c.alpha = present(config, "lora_alpha") ? config["lora_alpha"].get<float>() : 8.0f;  // PEFT's default
    c.dropout = present(config, "lora_dropout") ? config["lora_dropout"].get<float>() : 0.0f;
    c.use_rslora = present(config, "use_rslora") && config["use_rslora"].get<bool>();

    refuse_if_set(config, "use_dora", config_path, "DoRA (weight-decomposed LoRA)");
    refuse_if_set(config, "rank_pattern", config_path, "a per-module rank");
    refuse_if_set(config, "alpha_pattern", config_path, "a per-module alpha");
    refuse_if_set(config, "lora_bias", config_path, "a bias on lora_B");
    refuse_if_set(config, "modules_to_save", config_path, "training full modules next to the adapter");
    refuse_if_set(config, "fan_in_fan_out", config_path, "fan_in_fan_out (Conv1D weights)");
    refuse_if_set(config, "use_qalora", config_path, "QA-LoRA");
    refuse_if_set(config, "layer_replication", config_path, "layer replication");
    refuse_if_set(config, "target_parameters", config_path, "LoRA on parameters");
    refuse_if_set(config, "trainable_token_indices", config_path, "trainable token embeddings");
    refuse_if_set(config, "alora_invocation_tokens", config_path, "activated LoRA (aLoRA)");
    if (present(config, "bias") && config["bias"].get<std::string>() != "none")
      fail(config_path, "bias", "trained biases are not supported (value " + config["bias"].dump() + ")");
    if (present(config, "init_lora_weights")) {
      // These inits move part of the base weights into the adapter: the saved adapter only works on
      // the modified base unless PEFT converted it at save time (which resets the field to true).
      const json& init = config["init_lora_weights"];
      if (init.is_string()) {
        const std::string s = init.get<std::string>();
        if (s != "gaussian" && s != "eva" && s != "orthogonal")
          fail(config_path, "init_lora_weights", "'" + s + "' adapters need their modified base model; not supported");
      }
    }
    targeted = targeted_modules(config, model, config_path);
    apply_layer_filters(targeted, config, config_path);
  } catch (const json::exception& e) {
    fail(config_path, "", std::string("a field has the wrong type: ") + e.what());
  }

  if (!fs::exists(weights_path)) {
    if (fs::exists(dir + "/adapter_model.bin"))
      fail(dir + "/adapter_model.bin", "", "pickled adapters are not supported; save with safe_serialization (safetensors)");
    fail(weights_path, "", "missing");
  }
  SafetensorsFile file(weights_path);

  // Every tensor must be the A or B of a targeted module; anything else is a feature we would drop.
  std::map<std::string, std::pair<std::pair<int64_t, WeightRole>, bool>> expected;  // key -> (module, is_a)
  for (const auto& m : targeted)
    for (bool is_a : {true, false}) expected[peft_tensor_key(m.second, m.first, is_a)] = {m, is_a};
  for (const SafetensorsTensor& t : file.tensors()) {
    if (expected.count(t.name)) continue;
    std::string why = "is not the lora_A / lora_B of a module target_modules selects";
    if (t.name.find("lora_magnitude_vector") != std::string::npos) why = "is a DoRA magnitude; DoRA is not supported";
    else if (t.name.find("lora_embedding") != std::string::npos) why = "is an embedding LoRA; not supported";
    else if (t.name.ends_with(".bias")) why = "is a bias; LoRA biases are not supported";
    else if (t.name.find(".lora_") == std::string::npos) why = "is a full weight (modules_to_save?); not supported";
    fail(weights_path, t.name, why);
  }

  size_t offset = 0;
  // Canonical order (layer, then q k v o gate up down), the same layout LoraAdapter::create builds.
  for (int64_t layer = 0; layer < model.n_layers; ++layer)
    for (WeightRole role : kLinearRoles) {
      if (!targeted.count({layer, role})) continue;
      LoraLayer l{role, layer, linear_in_features(model, role), linear_out_features(model, role), 0, 0};
      l.a_offset = offset;
      l.b_offset = offset + static_cast<size_t>(c.r * l.in);
      offset = l.b_offset + static_cast<size_t>(l.out * c.r);
      adapter.layers.push_back(l);
    }
  adapter.values.assign(offset, 0.0f);
  for (const LoraLayer& l : adapter.layers) {
    for (bool is_a : {true, false}) {
      const std::string key = peft_tensor_key(l.role, l.layer, is_a);
      const SafetensorsTensor* t = file.find(key);
      if (!t) fail(weights_path, key, "missing (target_modules selects " + hf_module_name(l.role, l.layer) + ")");
      const std::vector<int64_t> want = is_a ? std::vector<int64_t>{c.r, l.in} : std::vector<int64_t>{l.out, c.r};
      if (t->shape != want)
        fail(weights_path, key,
             "shape " + shape_str(t->shape) + ", expected " + shape_str(want) + (is_a ? " [r, in]" : " [out, r]") +
                 " from " + kConfigName + " r = " + std::to_string(c.r) + " and the base model");
      to_f32(*t, is_a ? adapter.a(l) : adapter.b(l));  // fails on dtypes other than F32 / F16 / BF16
    }
  }
  if (adapter.layers.empty()) fail(config_path, "target_modules", "selects no module of the model");
  if (const auto it = file.metadata().find(kRopeScalingMetadata); it != file.metadata().end())
    adapter.context_extension = context_extension_from_metadata(it->second, weights_path);
  for (WeightRole role : kLinearRoles)
    for (const LoraLayer& l : adapter.layers)
      if (l.role == role) {
        c.targets.push_back(role);
        break;
      }
  return adapter;
}

}  // namespace frugal
