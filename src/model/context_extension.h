// Training a model for a longer context than it was trained for: position interpolation (linear),
// NTK-aware dynamic scaling or YaRN, applied to the model's RoPE as axolotl's `rope_scaling` key
// does. The extension travels with what training produces (the adapter, the merged model), so a
// model fine-tuned at 4x its context is also run at 4x.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/rope_scaling.h"
#include "model/llama_config.h"

namespace frugal {

struct ContextExtension {
  RopeType type = RopeType::Default;  // Default: none; else Linear, Dynamic or Yarn
  double factor = 1.0;
  int64_t original_context = 0;  // the context the model was trained for; 0: the model's own

  bool extends() const { return type != RopeType::Default; }
  friend bool operator==(const ContextExtension&, const ContextExtension&) = default;
};

// Sets `config`'s RoPE scaling to `e` and its context to what the scaling reaches (linear, YaRN:
// original x factor; dynamic keeps the original, which transformers reads as the length past which
// it rescales). Fails, naming `source` and `key`, when the model already scales its RoPE (stacking
// two scalings is not what anyone trained), when the type cannot be trained this way, or when no
// original context is known.
void extend_context(LlamaConfig& config, const ContextExtension& e, const std::string& source,
                    const std::string& key = "rope_scaling");

// "linear x4 from 2048" (or "linear x4" when the original is the model's own) for logs and messages.
std::string context_extension_text(const ContextExtension& e);

}  // namespace frugal
