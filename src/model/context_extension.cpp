#include "model/context_extension.h"

#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace frugal {

void extend_context(LlamaConfig& config, const ContextExtension& e, const std::string& source, const std::string& key) {
  if (!e.extends()) return;
  if (e.type != RopeType::Linear && e.type != RopeType::Dynamic && e.type != RopeType::Yarn)
    fail(source, key + ".type",
         std::string(rope_type_name(e.type)) + " cannot be chosen for training: use linear, dynamic or yarn");
  if (config.rope_scaling.scales())
    fail(source, key,
         std::string("the model already scales its RoPE (") + rope_type_name(config.rope_scaling.type) +
             "); a second scaling on top of it is not what it was trained for: drop the key");
  if (!(e.factor >= 1) || !std::isfinite(e.factor))
    fail(source, key + ".factor", std::to_string(e.factor) + " must be at least 1");
  const int64_t original = e.original_context > 0 ? e.original_context : config.context_length;
  if (original <= 0)
    fail(source, key + ".original_max_position_embeddings",
         "missing: the model does not state the context it was trained for");
  RopeScaling s;
  s.type = e.type;
  s.factor = e.factor;
  // Linear needs no original length; dynamic and YaRN scale relative to it.
  s.original_context = e.type == RopeType::Linear ? 0 : original;
  s.validate(config.head_dim, source, {key, key + ".original_max_position_embeddings", "rope_freqs"});
  config.rope_scaling = s;
  config.context_length =
      e.type == RopeType::Dynamic ? original : static_cast<int64_t>(std::llround(static_cast<double>(original) * e.factor));
}

std::string context_extension_text(const ContextExtension& e) {
  if (!e.extends()) return "none";
  char factor[32];
  std::snprintf(factor, sizeof factor, "%g", e.factor);
  return std::string(rope_type_name(e.type)) + " x" + factor +
         (e.original_context > 0 ? " from " + std::to_string(e.original_context) : "");
}

}  // namespace frugal
