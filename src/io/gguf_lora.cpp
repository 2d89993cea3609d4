#include "io/gguf_lora.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <utility>

#include "core/error.h"
#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "io/tensor_names.h"
#include "model/families.h"

namespace frugal {

namespace {

constexpr WeightRole kLinearRoles[] = {WeightRole::Wq,   WeightRole::Wk, WeightRole::Wv,  WeightRole::Wo,
                                       WeightRole::Gate, WeightRole::Up, WeightRole::Down};

int64_t rotary_heads(const LlamaConfig& model, WeightRole role) {
  return role == WeightRole::Wq ? model.n_heads : model.n_kv_heads;
}

bool permuted(const LlamaConfig& model, WeightRole role) {
  return (role == WeightRole::Wq || role == WeightRole::Wk) && gguf_permutes_rotary_rows(model.architecture);
}


bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string ne_str(const std::vector<int64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

std::vector<float> dequantized(const GgufTensorInfo& t) {
  std::vector<float> out(static_cast<size_t>(t.elements()));
  const int64_t row_len = t.ne[0], rows = t.elements() / row_len;
  const uint64_t row_bytes = ggml_row_bytes(t.type, row_len);
  for (int64_t r = 0; r < rows; ++r) dequantize_row(t.type, t.data + r * row_bytes, out.data() + r * row_len, row_len);
  return out;
}

}  // namespace

bool gguf_permutes_rotary_rows(const std::string& architecture) {
  return family_of_architecture(architecture, "GGUF").gguf_rotary_rows_permuted;
}

float gguf_lora_alpha(const LoraConfig& config) {
  return config.use_rslora ? config.alpha * std::sqrt(static_cast<float>(config.r)) : config.alpha;
}

void write_gguf_lora(const std::string& path, const LoraAdapter& adapter, const LlamaConfig& model,
                     const std::string& name) {
  if (adapter.layers.empty()) fail(path, "", "the adapter has no layers to write");
  GgufWriter w;
  w.set_string("general.architecture", model.architecture);
  w.set_string("general.type", "adapter");
  if (!name.empty()) w.set_string("general.name", name);
  w.set_string("adapter.type", "lora");
  w.set_f32("adapter.lora.alpha", gguf_lora_alpha(adapter.config));
  // The training run's rope_scaling in the base model's own keys, for frugal to apply at load.
  // llama.cpp reads no RoPE settings from an adapter: its users pass them as flags (the trainer says which).
  const ContextExtension& e = adapter.context_extension;
  if (e.type == RopeType::Linear || e.type == RopeType::Yarn) {
    const std::string k = model.architecture + ".rope.scaling.";
    w.set_string(k + "type", rope_type_name(e.type));
    w.set_f32(k + "factor", static_cast<float>(e.factor));
    if (e.original_context > 0) w.set_u32(k + "original_context_length", static_cast<uint32_t>(e.original_context));
  }

  const int64_t r = adapter.config.r;
  for (const LoraLayer& l : adapter.layers) {
    if (l.layer < 0 || l.layer >= model.n_layers || l.in != linear_in_features(model, l.role) || l.out != linear_out_features(model, l.role))
      fail(path, hf_module_name(l.role, l.layer), "adapter shape does not match the base model's config");
    const std::string base = gguf_tensor_name(l.role, l.layer);
    // A [r, in] is stored as is: ggml ne = [in, r], which llama.cpp multiplies as A x.
    w.add_tensor(base + ".lora_a", {r, l.in}, GgmlType::F32,
                 std::span<const float>(adapter.a(l), static_cast<size_t>(r * l.in)));
    // B [out, r] gets ne = [r, out]; its rows are output features, so they follow the base weight's
    // row order, which for Q/K in GGUF is Meta's.
    std::vector<float> b(adapter.b(l), adapter.b(l) + l.out * r);
    if (permuted(model, l.role)) permute_rows_hf_to_meta(b.data(), l.out, r, rotary_heads(model, l.role));
    w.add_tensor(base + ".lora_b", {l.out, r}, GgmlType::F32, std::move(b));
  }
  w.write(path);
}

LoraAdapter read_gguf_lora(const std::string& path, const LlamaConfig& model) {
  GgufFile g(path);
  const std::string type = g.get_string("general.type", "");
  if (type != "adapter") fail(path, "general.type", "expected \"adapter\", found \"" + type + "\" (not a LoRA adapter?)");
  const std::string arch = g.get_string("general.architecture");
  if (arch != model.architecture)
    fail(path, "general.architecture", "adapter is for '" + arch + "' but the model is '" + model.architecture + "'");
  const std::string adapter_type = g.get_string("adapter.type");
  if (adapter_type != "lora") fail(path, "adapter.type", "expected \"lora\", found \"" + adapter_type + "\"");

  LoraAdapter adapter;
  const std::string rope_key = arch + ".rope.scaling.";
  if (const std::string rope_type = g.get_string(rope_key + "type", ""); !rope_type.empty()) {
    const std::optional<RopeType> t = rope_type_from_name(rope_type);
    if (!t || (*t != RopeType::Linear && *t != RopeType::Yarn))
      fail(path, rope_key + "type", "'" + rope_type + "' is not a scaling an adapter is trained with (linear, yarn)");
    adapter.context_extension.type = *t;
    adapter.context_extension.factor = g.get_float(rope_key + "factor");
    adapter.context_extension.original_context = g.get_int(rope_key + "original_context_length", 0);
  }

  std::map<std::string, std::pair<WeightRole, int64_t>> base_names;
  for (int64_t layer = 0; layer < model.n_layers; ++layer)
    for (WeightRole role : kLinearRoles) base_names[gguf_tensor_name(role, layer)] = {role, layer};

  // (layer, role order) -> the file's A and B; the map's order is the adapter's layer order.
  struct Pair {
    WeightRole role;
    const GgufTensorInfo* a = nullptr;
    const GgufTensorInfo* b = nullptr;
  };
  std::map<std::pair<int64_t, int>, Pair> pairs;
  for (const GgufTensorInfo& t : g.tensors()) {
    const bool is_a = ends_with(t.name, ".lora_a"), is_b = ends_with(t.name, ".lora_b");
    if (!is_a && !is_b) {
      if (ends_with(t.name, "_norm.weight")) continue;  // mergekit-extract-lora writes these; llama.cpp skips them
      fail(path, "tensor " + t.name, "unexpected name (LoRA tensors end in .lora_a or .lora_b)");
    }
    const std::string base = t.name.substr(0, t.name.size() - 7);
    auto it = base_names.find(base);
    if (it == base_names.end()) {
      if (base == "token_embd.weight" || base == "output.weight")
        fail(path, "tensor " + t.name, "LoRA on the embedding or output layer is not supported");
      fail(path, "tensor " + t.name, "'" + base + "' is not a linear layer of this " + model.architecture + " model");
    }
    const auto [role, layer] = it->second;
    int order = 0;
    while (kLinearRoles[order] != role) ++order;
    Pair& p = pairs[{layer, order}];
    p.role = role;
    (is_a ? p.a : p.b) = &t;
  }
  if (pairs.empty()) fail(path, "", "no LoRA tensors");

  adapter.config.r = 0;
  size_t offset = 0;
  for (const auto& [key, p] : pairs) {
    const int64_t layer = key.first;
    const std::string base = gguf_tensor_name(p.role, layer);
    if (!p.a || !p.b) fail(path, "tensor " + base + (p.a ? ".lora_b" : ".lora_a"), "missing (LoRA tensors come in pairs)");
    const int64_t in = linear_in_features(model, p.role), out = linear_out_features(model, p.role);
    if (p.b->ne.size() != 2 || p.a->ne.size() != 2)
      fail(path, "tensor " + base, "LoRA tensors must be 2-dimensional");
    const int64_t r = p.b->ne[0];
    // llama.cpp's checks: base ne[0] (in) == a ne[0], base ne[1] (out) == b ne[1], ranks agree.
    if (p.a->ne[0] != in || p.b->ne[1] != out || p.a->ne[1] != r)
      fail(path, "tensor " + base,
           "lora_a ne " + ne_str(p.a->ne) + " and lora_b ne " + ne_str(p.b->ne) + " do not fit the base weight (in " +
               std::to_string(in) + ", out " + std::to_string(out) + "): expected lora_a [in, r] and lora_b [r, out]");
    if (adapter.config.r == 0) adapter.config.r = r;
    if (r != adapter.config.r)
      fail(path, "tensor " + base,
           "rank " + std::to_string(r) + " differs from the other tensors' " + std::to_string(adapter.config.r) +
               " (one rank per adapter is supported)");
    LoraLayer l{p.role, layer, in, out, offset, offset + static_cast<size_t>(r * in)};
    offset = l.b_offset + static_cast<size_t>(out * r);
    adapter.layers.push_back(l);
    bool have = false;
    for (WeightRole t : adapter.config.targets) have |= t == p.role;
    if (!have) adapter.config.targets.push_back(p.role);
  }
  // Targets in the canonical q, k, v, o, gate, up, down order, as LoraAdapter::create lists them.
  std::vector<WeightRole> targets;
  for (WeightRole role : kLinearRoles)
    for (WeightRole t : adapter.config.targets)
      if (t == role) targets.push_back(role);
  adapter.config.targets = std::move(targets);

  adapter.values.resize(offset);
  size_t i = 0;
  for (const auto& [key, p] : pairs) {
    const LoraLayer& l = adapter.layers[i++];
    const std::vector<float> a = dequantized(*p.a), b = dequantized(*p.b);
    std::copy(a.begin(), a.end(), adapter.a(l));
    std::copy(b.begin(), b.end(), adapter.b(l));
    if (permuted(model, l.role)) permute_rows_meta_to_hf(adapter.b(l), l.out, adapter.config.r, rotary_heads(model, l.role));
  }

  const double alpha = g.get_float("adapter.lora.alpha", 0.0);
  // llama.cpp: no alpha (or 0) means scale = the user's scale, i.e. alpha / r = 1.
  adapter.config.alpha = alpha == 0.0 ? static_cast<float>(adapter.config.r) : static_cast<float>(alpha);
  adapter.config.use_rslora = false;
  adapter.config.dropout = 0.0f;
  return adapter;
}

}  // namespace frugal
