// Hugging Face model folder import: config.json -> LlamaConfig, weights from model.safetensors or
// the shards named by model.safetensors.index.json, tokenizer from tokenizer.json. Linear weights
// that bitsandbytes stored in 4 bits (io/bnb_4bit.h) or 8 bits (io/bnb_int8.h) are read straight
// into 4-bit matrices or int8 rows.
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <type_traits>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_number.h"
#include "io/bnb_4bit.h"
#include "io/bnb_int8.h"
#include "io/hf_rope.h"
#include "format/safetensors.h"
#include "io/tensor_names.h"
#include "model/families.h"
#include "model/model.h"

namespace frugal {

namespace {

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(path, "", "cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    fail(path, "byte " + std::to_string(e.byte), "invalid JSON");
  } catch (const nlohmann::json::exception& e) {  // out_of_range: a number beyond double's range (1e999)
    std::string msg = e.what();
    if (const size_t p = msg.find("] "); p != std::string::npos) msg = msg.substr(p + 2);
    fail(path, "", "invalid JSON: " + msg);
  }
}

template <typename T>
T json_get(const nlohmann::json& j, const std::string& key, const std::string& path) {
  if (!j.contains(key) || j[key].is_null()) fail(path, key, "missing");
  const nlohmann::json& v = j[key];
  if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>)
    if (v.is_number() && !json_fits<T>(v)) fail(path, key, "is out of range (or not whole) for this setting");
  try {
    return v.get<T>();
  } catch (const nlohmann::json::exception&) {
    fail(path, key, "has the wrong type");
  }
}

template <typename T>
T json_get(const nlohmann::json& j, const std::string& key, const std::string& path, T fallback) {
  return j.contains(key) && !j[key].is_null() ? json_get<T>(j, key, path) : fallback;
}

// A slot of Phi-3's fused projections (`fused`: where in qkv_proj or gate_up_proj it sits); each
// fused tensor is read once and dropped after its last slot.
void read_fused_rows(const std::map<std::string, const SafetensorsTensor*>& by_name, const LlamaConfig& c,
                     const WeightSlot& s, const FusedRows& fused, const std::string& dir,
                     std::map<std::string, std::vector<float>>& cache) {
  const std::string name = "model.layers." + std::to_string(s.layer) + "." +
                           (fused.attention ? "self_attn.qkv_proj.weight" : "mlp.gate_up_proj.weight");
  auto& values = cache[name];
  if (values.empty()) {
    auto it = by_name.find(name);
    if (it == by_name.end()) fail(dir, name, "missing tensor");
    const SafetensorsTensor& t = *it->second;
    if (t.shape.size() != 2 || t.shape[0] != fused.total_rows || t.shape[1] != c.dim)
      fail(dir, name, "shape does not match config.json (expected " + std::to_string(fused.total_rows) + "x" +
                          std::to_string(c.dim) + ")");
    values.resize(static_cast<size_t>(fused.total_rows * c.dim));
    to_f32(t, values.data());
  }
  std::copy(values.begin() + fused.first_row * c.dim, values.begin() + (fused.first_row + s.rows) * c.dim, s.data);
  if (fused.first_row + s.rows == fused.total_rows) cache.erase(name);  // the last slot that reads it
}

LlamaConfig config_from_hf(const nlohmann::json& j, const std::string& path) {
  LlamaConfig c;
  const std::string type = json_get<std::string>(j, "model_type", path, "llama");
  const ModelFamily& family = family_of_hf_model_type(type, path);
  c.dim = json_get<int64_t>(j, "hidden_size", path);
  c.n_layers = json_get<int64_t>(j, "num_hidden_layers", path);
  c.n_heads = json_get<int64_t>(j, "num_attention_heads", path);
  c.n_kv_heads = json_get<int64_t>(j, "num_key_value_heads", path, c.n_heads);
  c.ffn_dim = json_get<int64_t>(j, "intermediate_size", path);
  c.vocab_size = json_get<int64_t>(j, "vocab_size", path);
  c.context_length = json_get<int64_t>(j, "max_position_embeddings", path, 2048);
  c.rms_eps = json_get<float>(j, "rms_norm_eps", path, 1e-6f);
  if (c.n_heads <= 0) fail(path, "num_attention_heads", "must be positive");
  c.head_dim = json_get<int64_t>(j, "head_dim", path, c.dim / c.n_heads);
  c.tied_output = json_get<bool>(j, "tie_word_embeddings", path, false);
  c.qkv_bias = json_get<bool>(j, "attention_bias", path, false);
  apply_family(family, c);
  if (json_get<bool>(j, "mlp_bias", path, false)) fail(path, "mlp_bias", "MLP biases are not supported");
  const std::string act = json_get<std::string>(j, "hidden_activation", path,
                                                json_get<std::string>(j, "hidden_act", path, "silu"));
  const bool gelu_tanh = act == "gelu_pytorch_tanh" || act == "gelu_tanh";
  if (!(act == "silu" && c.activation == MlpActivation::Silu) && !(gelu_tanh && c.activation == MlpActivation::GeluTanh))
    fail(path, "hidden_act", "'" + act + "' is not this family's activation (silu for SwiGLU, gelu_pytorch_tanh for Gemma)");
  if (json_get<double>(j, "partial_rotary_factor", path, 1.0) != 1.0)
    fail(path, "partial_rotary_factor", "partial rotary dimensions are not supported");
  for (const char* key : {"attn_logit_softcapping", "final_logit_softcapping"})
    if (j.contains(key) && !j[key].is_null()) fail(path, key, "logit soft-capping is not supported");
  if (family.architecture == "gemma3") {
    c.attention_scale = 1.0f / std::sqrt(json_get<float>(j, "query_pre_attn_scalar", path, static_cast<float>(c.head_dim)));
    c.rope_local_theta = json_get<float>(j, "rope_local_base_freq", path, c.rope_local_theta);
  }
  // Sliding windows: Mistral slides every layer, Gemma 3 a pattern of them (layer_types in newer configs).
  if (j.contains("sliding_window") && !j["sliding_window"].is_null() &&
      json_get<bool>(j, "use_sliding_window", path, true)) {
    c.sliding_window = json_get<int64_t>(j, "sliding_window", path);
    c.sliding_window_pattern = json_get<int64_t>(j, "sliding_window_pattern", path, c.sliding_window_pattern);
    if (j.contains("layer_types") && j["layer_types"].is_array()) {
      const nlohmann::json& types = j["layer_types"];
      if (static_cast<int64_t>(types.size()) != c.n_layers) fail(path, "layer_types", "must list every layer");
      // Express the list as a pattern (every n-th layer global); refuse what a pattern cannot say.
      int64_t pattern = 0;
      for (int64_t l = 0; l < c.n_layers; ++l)
        if (types[l] == "full_attention") { pattern = l + 1; break; }
      c.sliding_window_pattern = pattern;
      for (int64_t l = 0; l < c.n_layers; ++l)
        if ((types[l] == "sliding_attention") != c.layer_slides(l))
          fail(path, "layer_types[" + std::to_string(l) + "]", "this pattern of sliding and full layers is not supported");
    }
  } else {
    c.sliding_window = 0;
  }
  // transformers 5 keeps RoPE settings in rope_parameters (per layer type for Gemma 3); older
  // configs use rope_theta/rope_scaling.
  nlohmann::json rope = j.contains("rope_parameters") && j["rope_parameters"].is_object() ? j["rope_parameters"]
                        : j.contains("rope_scaling") && j["rope_scaling"].is_object() ? j["rope_scaling"]
                                                                                      : nlohmann::json::object();
  if (rope.contains("sliding_attention") && rope["sliding_attention"].is_object())
    c.rope_local_theta = json_get<float>(rope["sliding_attention"], "rope_theta", path, c.rope_local_theta);
  if (rope.contains("full_attention") && rope["full_attention"].is_object()) rope = rope["full_attention"];
  c.rope_theta = json_get<float>(rope, "rope_theta", path, json_get<float>(j, "rope_theta", path, 10000.0f));
  c.rope_scaling = rope_scaling_from_hf(j, rope, c.head_dim, path);
  c.validate(path);
  return c;
}

}  // namespace

std::unique_ptr<Model> load_hf_model(const std::string& dir, const LoadOptions& options) {
  const std::string config_path = dir + "/config.json";
  auto model = std::make_unique<Model>();
  model->format = ModelFormat::HfFolder;
  model->path = dir;
  const nlohmann::json cj = read_json(config_path);
  model->config = config_from_hf(cj, config_path);
  const bool bnb = cj.contains("quantization_config");
  const BnbBits bnb_bits = bnb ? check_bnb_quantization_config(cj["quantization_config"], config_path) : BnbBits::k4;
  model->name = json_get<std::string>(cj, "_name_or_path", config_path, "");
  LlamaConfig& c = model->config;

  // Which file holds which tensor.
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  std::map<std::string, const SafetensorsTensor*> by_name;
  const std::string index_path = dir + "/model.safetensors.index.json";
  std::vector<std::string> shard_names;
  if (file_exists(dir + "/model.safetensors")) {
    shard_names.push_back("model.safetensors");
  } else if (file_exists(index_path)) {
    const nlohmann::json index = read_json(index_path);
    if (!index.contains("weight_map") || !index["weight_map"].is_object()) fail(index_path, "weight_map", "missing");
    std::set<std::string> unique;
    for (const auto& [name, file] : index["weight_map"].items()) {
      if (!file.is_string()) fail(index_path, "weight_map." + name, "must name a file");
      const std::string f = file.get<std::string>();
      if (f.find('/') != std::string::npos) fail(index_path, "weight_map." + name, "shard must be in the same folder");
      unique.insert(f);
    }
    shard_names.assign(unique.begin(), unique.end());
  } else {
    fail(dir, "", "no model.safetensors or model.safetensors.index.json (only safetensors weights are supported)");
  }
  for (const std::string& s : shard_names) {
    files.push_back(std::make_unique<SafetensorsFile>(dir + "/" + s));
    for (const SafetensorsTensor& t : files.back()->tensors()) by_name[t.name] = &t;
  }
  if (!c.tied_output && !by_name.count(hf_tensor_name(WeightRole::Output, -1))) c.tied_output = true;

  // A quantized checkpoint's linear weights are allocated one by one below, only when not 4 or 8-bit; so
  // are they when asked to quantize while loading (each then held in fp32 only until quantized).
  const std::optional<LinearQuantization>& quantize = options.quantize_linears;
  const bool quantized = bnb || quantize.has_value();
  const TensorLookup find = [&](const std::string& name) -> const SafetensorsTensor* {
    auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : it->second;
  };
  // The sizes come from config.json and the shapes are checked tensor by tensor below, after the
  // weights are allocated: so first the files must hold at least a 4-bit copy (the smallest HF
  // stores) of what the config describes, or a config claiming far more fails instead of allocating
  // it (the GGUF loader's fuzz finding, here by construction). In doubles: the products may pass int64.
  double stored_bytes = 0;
  for (const auto& [name, t] : by_name) stored_bytes += static_cast<double>(t->nbytes);
  const double dim = static_cast<double>(c.dim), q_dim = static_cast<double>(c.n_heads) * static_cast<double>(c.head_dim),
               kv_dim = static_cast<double>(c.n_kv_heads) * static_cast<double>(c.head_dim);
  const double described = static_cast<double>(c.vocab_size) * dim * (c.tied_output ? 1 : 2) +
                           static_cast<double>(c.n_layers) * (2 * dim * q_dim + 2 * dim * kv_dim + 3 * dim * static_cast<double>(c.ffn_dim));
  if (described > 2 * stored_bytes)
    fail(config_path, "", "describes " + std::to_string(static_cast<int64_t>(std::min(described, 9e18) / 1e6)) +
                              " M parameters, but the safetensors files hold only " +
                              std::to_string(static_cast<int64_t>(stored_bytes)) + " bytes");
  model->weights.allocate(c, !quantized);
  const ModelFamily& family = family_of_architecture(c.architecture, config_path);
  std::map<std::string, std::vector<float>> fused;  // Phi-3's qkv_proj / gate_up_proj, read once
  for (WeightSlot s : weight_slots(c, model->weights)) {
    const std::string name = hf_tensor_name(c, s.role, s.layer);
    if (const std::optional<FusedRows> rows = fused_rows(family, c, s.role)) {
      if (quantized) fail(dir, name, "fused projections (Phi-3) cannot be quantized while loading yet");
      read_fused_rows(by_name, c, s, *rows, dir, fused);
      continue;
    }
    if (quantized && is_linear_role(s.role)) {
      Matrix& m = linear_weight(model->weights, s.role, s.layer);
      if (bnb && bnb_bits == BnbBits::k4 && is_bnb_4bit(find, name)) {
        m.q4 = std::make_shared<Quant4Matrix>(read_bnb_4bit(find, name, s.rows, s.cols, dir));
        model->source_tensors.push_back({name, m.q4->type == Quant4Type::kNf4 ? "NF4" : "FP4", {s.rows, s.cols},
                                         static_cast<uint64_t>(m.q4->bytes())});
        continue;
      }
      // An I8 weight without its SCB is read too, to fail saying so.
      if (bnb && bnb_bits == BnbBits::k8 && (is_bnb_int8(find, name) || (find(name) && find(name)->dtype == SafeDtype::I8))) {
        m.packed = pack_int8_rows(read_bnb_int8(find, name, s.rows, s.cols, dir));
        model->source_tensors.push_back({name, "I8", {s.rows, s.cols}, static_cast<uint64_t>(m.packed->bytes())});
        continue;
      }
      m.resize(s.rows, s.cols);  // left unquantized (llm_int8_skip_modules)
      s.data = m.data.data();
    }
    auto it = by_name.find(name);
    if (it == by_name.end()) fail(dir, name, "missing tensor");
    const SafetensorsTensor& t = *it->second;
    const bool ok = s.cols == 1 ? (t.shape.size() == 1 && t.shape[0] == s.rows)
                                : (t.shape.size() == 2 && t.shape[0] == s.rows && t.shape[1] == s.cols);
    if (!ok) fail(dir, name, "shape does not match config.json");
    to_f32(t, s.data);
    if (family.hf_norm_offset != 0 && is_norm_role(s.role))  // HF stores w, the norm multiplies by (1 + w)
      for (int64_t i = 0; i < s.rows; ++i) s.data[i] += family.hf_norm_offset;
    model->source_tensors.push_back({name, safe_dtype_name(t.dtype), t.shape, t.nbytes});
    if (quantize && is_linear_role(s.role))
      quantize_linear_weight(linear_weight(model->weights, s.role, s.layer), *quantize);
  }
  model->tokenizer = std::make_unique<Tokenizer>(vocab_from_hf_dir(dir));
  if (model->tokenizer->size() > c.vocab_size)
    fail(dir + "/tokenizer.json", "", "tokenizer has more tokens than config.json vocab_size");
  return model;
}

}  // namespace frugal
