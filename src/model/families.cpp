#include "model/families.h"

#include <cmath>

#include "core/error.h"

namespace frugal {

namespace {
const std::vector<ModelFamily>& families() {
  static const std::vector<ModelFamily> table = [] {
    std::vector<ModelFamily> t;
    ModelFamily llama{"llama", {"llama", "mistral"}, "LlamaForCausalLM"};  // Llama 1/2/3.x, SmolLM2; Mistral in GGUF
    llama.gguf_rotary_rows_permuted = true;
    t.push_back(llama);
    ModelFamily qwen2{"qwen2", {"qwen2"}, "Qwen2ForCausalLM"};
    qwen2.qkv_bias = true;
    t.push_back(qwen2);
    ModelFamily qwen3{"qwen3", {"qwen3"}, "Qwen3ForCausalLM"};
    qwen3.qk_norm = true;
    t.push_back(qwen3);
    ModelFamily gemma3{"gemma3", {"gemma3_text"}, "Gemma3ForCausalLM"};
    gemma3.qk_norm = true;
    gemma3.post_norms = true;
    gemma3.activation = MlpActivation::GeluTanh;
    gemma3.embedding_scale_sqrt = true;
    gemma3.sliding_window_pattern = 6;
    gemma3.rope_local_theta = 10000.0f;
    gemma3.hf_norm_offset = 1.0f;
    t.push_back(gemma3);
    ModelFamily phi3{"phi3", {"phi3"}, "Phi3ForCausalLM"};
    phi3.fused_projections = true;
    t.push_back(phi3);
    return t;
  }();
  return table;
}
}  // namespace

std::string supported_architectures() {
  std::string s;
  for (const ModelFamily& f : families()) s += (s.empty() ? "" : ", ") + std::string(f.architecture);
  return s;
}

const ModelFamily& family_of_architecture(const std::string& architecture, const std::string& source) {
  for (const ModelFamily& f : families())
    if (f.architecture == architecture) return f;
  fail(source, "general.architecture", "unsupported architecture '" + architecture + "' (" + supported_architectures() + ")");
}

const ModelFamily& family_of_hf_model_type(const std::string& model_type, const std::string& source) {
  std::string known;
  for (const ModelFamily& f : families())
    for (std::string_view t : f.hf_model_types) {
      if (t == model_type) return f;
      known += (known.empty() ? "" : ", ") + std::string(t);
    }
  fail(source, "model_type", "unsupported model type '" + model_type + "' (" + known + ")");
}

std::optional<FusedRows> fused_rows(const ModelFamily& f, const LlamaConfig& c, WeightRole role) {
  if (!f.fused_projections) return std::nullopt;
  const int64_t qkv = c.q_dim() + 2 * c.kv_dim(), gate_up = 2 * c.ffn_dim;
  switch (role) {
    case WeightRole::Wq: return FusedRows{true, 0, qkv};
    case WeightRole::Wk: return FusedRows{true, c.q_dim(), qkv};
    case WeightRole::Wv: return FusedRows{true, c.q_dim() + c.kv_dim(), qkv};
    case WeightRole::Gate: return FusedRows{false, 0, gate_up};
    case WeightRole::Up: return FusedRows{false, c.ffn_dim, gate_up};
    default: return std::nullopt;
  }
}

void apply_family(const ModelFamily& f, LlamaConfig& c) {
  c.architecture = std::string(f.architecture);
  c.qkv_bias = c.qkv_bias || f.qkv_bias;
  c.qk_norm = f.qk_norm;
  c.post_norms = f.post_norms;
  c.activation = f.activation;
  // transformers multiplies by the scale in the activations' dtype; fp32 here.
  if (f.embedding_scale_sqrt) c.embedding_scale = std::sqrt(static_cast<float>(c.dim));
  c.sliding_window_pattern = f.sliding_window_pattern;
  c.rope_local_theta = f.rope_local_theta;
}

}  // namespace frugal
