#include "plan/model_shapes.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"

namespace frugal {

namespace {

struct PresetSpec {
  const char* name;
  const char* source;
  int64_t dim, n_layers, n_heads, n_kv_heads, head_dim, ffn_dim, vocab_size, context_length;
  float rope_theta, rms_eps;
  bool tied_output;
};

// Published shapes. GPT-3 is not a Llama: as a dense decoder of the same size its 4h GELU MLP
// (2 matrices of h x 4h) becomes a SwiGLU MLP of 3 matrices of h x 8h/3 = 32768, which keeps the
// parameter count per block (12 h^2) and the FLOPs per token; its learned position embeddings
// (2048 x 12288 = 25M) and biases are left out.
const PresetSpec kPresets[] = {
    {"stories260k", "llama2.c stories260K.bin header (karpathy/tinyllamas)", 64, 5, 8, 4, 8, 172, 512, 512, 10000.0f,
     1e-5f, true},
    {"smollm2-135m", "HuggingFaceTB/SmolLM2-135M config.json", 576, 30, 9, 3, 64, 1536, 49152, 8192, 100000.0f, 1e-5f,
     true},
    {"smollm2-360m", "HuggingFaceTB/SmolLM2-360M config.json", 960, 32, 15, 5, 64, 2560, 49152, 8192, 100000.0f, 1e-5f,
     true},
    {"tinyllama-1.1b", "TinyLlama/TinyLlama-1.1B config.json", 2048, 22, 32, 4, 64, 5632, 32000, 2048, 10000.0f, 1e-5f,
     false},
    {"smollm2-1.7b", "HuggingFaceTB/SmolLM2-1.7B config.json", 2048, 24, 32, 32, 64, 8192, 49152, 8192, 130000.0f,
     1e-5f, true},
    {"llama-2-7b", "Touvron et al. 2023 (Llama 2), meta-llama/Llama-2-7b-hf config.json", 4096, 32, 32, 32, 128, 11008,
     32000, 4096, 10000.0f, 1e-5f, false},
    {"llama-3-8b", "meta-llama/Meta-Llama-3-8B config.json", 4096, 32, 32, 8, 128, 14336, 128256, 8192, 500000.0f,
     1e-5f, false},
    {"llama-2-13b", "Touvron et al. 2023 (Llama 2), meta-llama/Llama-2-13b-hf config.json", 5120, 40, 40, 40, 128,
     13824, 32000, 4096, 10000.0f, 1e-5f, false},
    {"llama-65b", "Touvron et al. 2023 (LLaMA), Table 2; huggyllama/llama-65b config.json", 8192, 80, 64, 64, 128,
     22016, 32000, 2048, 10000.0f, 1e-6f, false},
    {"llama-2-70b", "Touvron et al. 2023 (Llama 2), meta-llama/Llama-2-70b-hf config.json", 8192, 80, 64, 8, 128, 28672,
     32000, 4096, 10000.0f, 1e-5f, false},
    {"llama-3-70b", "meta-llama/Meta-Llama-3-70B config.json", 8192, 80, 64, 8, 128, 28672, 128256, 8192, 500000.0f,
     1e-5f, false},
    {"gpt-3-175b", "Brown et al. 2020 (GPT-3), Table 2.1, as a dense SwiGLU decoder of equal size", 12288, 96, 96, 96,
     128, 32768, 50257, 2048, 10000.0f, 1e-5f, true},
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

ModelShape shape_from_config(const std::string& name, const LlamaConfig& config, const std::string& source) {
  config.validate(name);
  return ModelShape{name, source, config, static_cast<double>(config.parameter_count())};
}

ModelShape shape_from_parameter_count(const std::string& name, double parameters) {
  if (!(parameters > 0)) fail("parameter count of '" + name + "' must be positive");
  ModelShape s;
  s.name = name;
  s.source = "parameter count only";
  s.parameters = parameters;
  return s;
}

const std::vector<ModelShape>& model_presets() {
  static const std::vector<ModelShape> presets = [] {
    std::vector<ModelShape> out;
    for (const PresetSpec& p : kPresets) {
      LlamaConfig c;
      c.dim = p.dim;
      c.n_layers = p.n_layers;
      c.n_heads = p.n_heads;
      c.n_kv_heads = p.n_kv_heads;
      c.head_dim = p.head_dim;
      c.ffn_dim = p.ffn_dim;
      c.vocab_size = p.vocab_size;
      c.context_length = p.context_length;
      c.rope_theta = p.rope_theta;
      c.rms_eps = p.rms_eps;
      c.tied_output = p.tied_output;
      out.push_back(shape_from_config(p.name, c, p.source));
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const ModelShape& a, const ModelShape& b) { return a.parameters < b.parameters; });
    return out;
  }();
  return presets;
}

const ModelShape& find_preset(const std::string& name) {
  const std::string wanted = lower(name);
  for (const ModelShape& s : model_presets())
    if (s.name == wanted) return s;
  fail("--preset", name, "unknown preset (known: " + preset_names() + ")");
}

std::string preset_names() {
  std::string out;
  for (const ModelShape& s : model_presets()) out += (out.empty() ? "" : ", ") + s.name;
  return out;
}

std::vector<WeightRole> all_linear_roles() {
  return {WeightRole::Wq,   WeightRole::Wk, WeightRole::Wv,  WeightRole::Wo,
          WeightRole::Gate, WeightRole::Up, WeightRole::Down};
}

int64_t block_linear_parameters(const LlamaConfig& c) {
  int64_t n = 0;
  for (WeightRole r : all_linear_roles()) n += linear_in_features(c, r) * linear_out_features(c, r);
  return n;
}

int64_t matmul_parameters(const LlamaConfig& c) {
  return c.n_layers * block_linear_parameters(c) + c.vocab_size * c.dim;
}

int64_t lora_parameter_count(const LlamaConfig& c, int64_t lora_r, const std::vector<WeightRole>& targets) {
  int64_t per_block = 0;
  for (WeightRole r : all_linear_roles())
    if (std::find(targets.begin(), targets.end(), r) != targets.end())
      per_block += lora_r * (linear_in_features(c, r) + linear_out_features(c, r));
  return c.n_layers * per_block;
}

}  // namespace frugal
