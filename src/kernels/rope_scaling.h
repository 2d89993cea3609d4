// RoPE frequency scaling as transformers defines it (modeling_rope_utils.ROPE_INIT_FUNCTIONS):
// the per-dimension inverse frequencies and the attention factor that multiplies cos and sin, for
// the six types default, linear, dynamic (NTK), yarn, longrope and llama3. Everything is computed
// in double; the RoPE table (kernels/rope.h) rounds to fp32 when it builds angles.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace frugal {

enum class RopeType { Default, Linear, Dynamic, Yarn, LongRope, Llama3 };

const char* rope_type_name(RopeType t);  // transformers' spelling ("default", "yarn", ...)
std::optional<RopeType> rope_type_from_name(const std::string& name);

// How a file spells the keys, for error messages: config.json's by default.
struct RopeKeyNames {
  std::string scaling = "rope_scaling";  // prefix of factor, attention_factor, ...
  std::string original = "rope_scaling.original_max_position_embeddings";
  std::string freq_divisors = "rope_freqs";
};

// The parameters of one scaling, as config.json's rope_scaling holds them. Zero means "not given"
// where transformers reads the key with `or` (beta_fast, beta_slow, mscale, mscale_all_dim).
struct RopeScaling {
  RopeType type = RopeType::Default;
  double factor = 1.0;  // linear, dynamic, yarn, llama3; longrope (only for its default attention factor)
  // The context the model was pre-trained for, resolved the way transformers resolves it per type
  // (dynamic: max_position_embeddings; yarn: original_max_position_embeddings or else
  // max_position_embeddings; longrope: the top-level original_max_position_embeddings or else
  // max_position_embeddings; llama3: rope_scaling's). 0: none (default, linear).
  int64_t original_context = 0;
  double low_freq_factor = 0, high_freq_factor = 0;  // llama3
  double beta_fast = 0, beta_slow = 0;               // yarn (0: transformers' 32 and 1)
  double mscale = 0, mscale_all_dim = 0;             // yarn (DeepSeek's form of the attention factor)
  bool truncate = true;                              // yarn: round the ramp's ends outwards
  std::optional<double> attention_factor;            // yarn, longrope: given, else derived
  std::vector<double> short_factor, long_factor;     // longrope: [D/2] divisors per frequency
  // GGUF's rope_freqs (Llama 3 as llama.cpp stores it): frequency i further divided by it; [D/2] or empty.
  std::vector<double> freq_divisors;

  bool scales() const { return type != RopeType::Default || !freq_divisors.empty(); }
  // Whether the frequencies depend on the sequence length (dynamic, longrope), and the value of the
  // length that matters: two lengths with the same key give the same table.
  bool depends_on_length() const { return type == RopeType::Dynamic || type == RopeType::LongRope; }
  int64_t length_key(int64_t seq_len) const;
  // Checks the parameters for a head dimension; `source` and `keys` name where they came from.
  void validate(int64_t head_dim, const std::string& source, const RopeKeyNames& keys) const;
};

struct RopeFrequencies {
  std::vector<double> inv_freq;   // [D/2]
  double attention_factor = 1.0;  // cos and sin are multiplied by it
};

// transformers' rope_init_fn(config, seq_len): seq_len is the longest sequence the table serves
// (max position + 1); 0 means "none given" (dynamic then uses the original context, longrope its
// short factors).
RopeFrequencies rope_frequencies(const RopeScaling& s, double theta, int64_t head_dim, int64_t seq_len);

// The factor cos and sin are multiplied by: given, or derived as transformers derives it (YaRN:
// 0.1 ln(factor) + 1, or DeepSeek's mscale ratio; LongRoPE: sqrt(1 + ln(factor) / ln(original))); 1 otherwise.
double rope_attention_factor(const RopeScaling& s);

// Llama 3's parameters as per-frequency divisors of the default frequencies: what llama.cpp's
// converter stores as the rope_freqs tensor.
std::vector<float> llama3_frequency_divisors(const RopeScaling& s, double theta, int64_t head_dim);

}  // namespace frugal
