#include "io/hf_rope.h"

#include "core/error.h"

namespace frugal {

namespace {

bool has(const nlohmann::json& j, const char* key) {
  return j.contains(key) && !j[key].is_null();
}

template <typename T>
T get(const nlohmann::json& j, const char* key, const std::string& path, const std::string& where) {
  if (!has(j, key)) fail(path, where, "missing");
  try {
    return j[key].get<T>();
  } catch (const nlohmann::json::exception&) {
    fail(path, where, "has the wrong type");
  }
}

double rope_number(const nlohmann::json& rope, const char* key, const std::string& path, double fallback) {
  return has(rope, key) ? get<double>(rope, key, path, std::string("rope_scaling.") + key) : fallback;
}

std::vector<double> rope_numbers(const nlohmann::json& rope, const char* key, const std::string& path) {
  return get<std::vector<double>>(rope, key, path, std::string("rope_scaling.") + key);
}

}  // namespace

RopeScaling rope_scaling_from_hf(const nlohmann::json& j, const nlohmann::json& rope, int64_t head_dim,
                                 const std::string& path) {
  RopeScaling s;
  const std::string type_key = has(rope, "rope_type") ? "rope_type" : "type";
  const std::string type = has(rope, type_key.c_str())
                               ? get<std::string>(rope, type_key.c_str(), path, "rope_scaling." + type_key)
                               : "default";
  const std::optional<RopeType> t = rope_type_from_name(type);
  if (!t)
    fail(path, "rope_scaling." + type_key,
         "'" + type + "' is not a RoPE type transformers knows (default, linear, dynamic, yarn, longrope, llama3)");
  s.type = *t;
  const int64_t max_positions = has(j, "max_position_embeddings")
                                    ? get<int64_t>(j, "max_position_embeddings", path, "max_position_embeddings")
                                    : 0;
  const auto factor = [&] { return get<double>(rope, "factor", path, "rope_scaling.factor"); };
  switch (s.type) {
    case RopeType::Default:
      break;
    case RopeType::Linear:
      s.factor = factor();
      break;
    case RopeType::Dynamic:
      // transformers 4.57 stretches past max_position_embeddings (rope_scaling's own
      // original_max_position_embeddings is not read for this type).
      s.factor = factor();
      if (max_positions <= 0)
        fail(path, "max_position_embeddings", "missing: dynamic RoPE scaling needs the original context length");
      s.original_context = max_positions;
      break;
    case RopeType::Yarn:
      s.factor = factor();
      s.original_context = has(rope, "original_max_position_embeddings")
                               ? get<int64_t>(rope, "original_max_position_embeddings", path,
                                              "rope_scaling.original_max_position_embeddings")
                               : max_positions;
      if (has(rope, "attention_factor")) s.attention_factor = rope_number(rope, "attention_factor", path, 0);
      s.beta_fast = rope_number(rope, "beta_fast", path, 0);
      s.beta_slow = rope_number(rope, "beta_slow", path, 0);
      s.mscale = rope_number(rope, "mscale", path, 0);
      s.mscale_all_dim = rope_number(rope, "mscale_all_dim", path, 0);
      if (has(rope, "truncate")) s.truncate = get<bool>(rope, "truncate", path, "rope_scaling.truncate");
      break;
    case RopeType::LongRope:
      s.short_factor = rope_numbers(rope, "short_factor", path);
      s.long_factor = rope_numbers(rope, "long_factor", path);
      if (has(rope, "attention_factor")) s.attention_factor = rope_number(rope, "attention_factor", path, 0);
      // Phi-3's form: a top-level original_max_position_embeddings, the factor then implied by it.
      if (has(j, "original_max_position_embeddings")) {
        s.original_context =
            get<int64_t>(j, "original_max_position_embeddings", path, "original_max_position_embeddings");
        if (s.original_context <= 0 || max_positions <= 0)
          fail(path, "original_max_position_embeddings",
               std::to_string(s.original_context) + " and max_position_embeddings " + std::to_string(max_positions) +
                   " must both be positive");
        s.factor = static_cast<double>(max_positions) / static_cast<double>(s.original_context);
      } else {
        s.original_context = max_positions;
        s.factor = rope_number(rope, "factor", path, 0);
      }
      break;
    case RopeType::Llama3:
      s.factor = factor();
      s.low_freq_factor = get<double>(rope, "low_freq_factor", path, "rope_scaling.low_freq_factor");
      s.high_freq_factor = get<double>(rope, "high_freq_factor", path, "rope_scaling.high_freq_factor");
      if (!has(rope, "original_max_position_embeddings"))
        fail(path, "rope_scaling.original_max_position_embeddings",
             "missing: llama3 RoPE scaling needs the original context length");
      s.original_context =
          get<int64_t>(rope, "original_max_position_embeddings", path, "rope_scaling.original_max_position_embeddings");
      break;
  }
  RopeKeyNames keys;
  if (s.type == RopeType::LongRope && has(j, "original_max_position_embeddings"))
    keys.original = "original_max_position_embeddings";
  else if (s.type == RopeType::LongRope || s.type == RopeType::Dynamic)
    keys.original = "max_position_embeddings";
  s.validate(head_dim, path, keys);
  return s;
}

void rope_scaling_to_hf(const RopeScaling& s, nlohmann::ordered_json& j, const std::string& source) {
  if (!s.freq_divisors.empty())
    fail(source, "rope_freqs",
         "RoPE frequency divisors without the parameters they came from (a GGUF stores only "
         "Llama 3's divisors) cannot be written to config.json");
  nlohmann::ordered_json r;
  switch (s.type) {
    case RopeType::Default:
      j["rope_scaling"] = nullptr;
      return;
    case RopeType::Linear:
    case RopeType::Dynamic:
      r["factor"] = s.factor;
      break;
    case RopeType::Yarn:
      r["factor"] = s.factor;
      r["original_max_position_embeddings"] = s.original_context;
      if (s.attention_factor) r["attention_factor"] = *s.attention_factor;
      if (s.beta_fast != 0) r["beta_fast"] = s.beta_fast;
      if (s.beta_slow != 0) r["beta_slow"] = s.beta_slow;
      if (s.mscale != 0) r["mscale"] = s.mscale;
      if (s.mscale_all_dim != 0) r["mscale_all_dim"] = s.mscale_all_dim;
      if (!s.truncate) r["truncate"] = false;
      break;
    case RopeType::LongRope:
      // The attention factor written out, so that it no longer depends on how the factor was implied.
      r["attention_factor"] = rope_attention_factor(s);
      if (s.factor > 0) r["factor"] = s.factor;
      r["long_factor"] = s.long_factor;
      r["short_factor"] = s.short_factor;
      j["original_max_position_embeddings"] = s.original_context;
      break;
    case RopeType::Llama3:
      r["factor"] = s.factor;
      r["low_freq_factor"] = s.low_freq_factor;
      r["high_freq_factor"] = s.high_freq_factor;
      r["original_max_position_embeddings"] = s.original_context;
      break;
  }
  r["rope_type"] = rope_type_name(s.type);
  if (s.type == RopeType::Linear || s.type == RopeType::Dynamic) r["type"] = rope_type_name(s.type);
  j["rope_scaling"] = r;
}

}  // namespace frugal
