#include "kernels/rope_scaling.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace frugal {

namespace {

constexpr double kPi = 3.14159265358979323846;

struct TypeName {
  RopeType type;
  const char* name;
};
constexpr TypeName kTypeNames[] = {{RopeType::Default, "default"},   {RopeType::Linear, "linear"},
                                   {RopeType::Dynamic, "dynamic"},   {RopeType::Yarn, "yarn"},
                                   {RopeType::LongRope, "longrope"}, {RopeType::Llama3, "llama3"}};

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// base ** (2i / dim) for each i < dim/2: the unscaled wavelengths over 2 pi.
std::vector<double> default_inv_freq(double theta, int64_t dim) {
  std::vector<double> inv(static_cast<size_t>(dim / 2));
  for (size_t i = 0; i < inv.size(); ++i)
    inv[i] = 1.0 / std::pow(theta, static_cast<double>(2 * i) / static_cast<double>(dim));
  return inv;
}

// YaRN's attention scale for a context stretched `scale` times (the paper's 0.1 ln s + 1).
double yarn_mscale(double scale, double mscale = 1.0) {
  return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

RopeFrequencies yarn(const RopeScaling& s, double theta, int64_t dim) {
  RopeFrequencies f;
  f.attention_factor = rope_attention_factor(s);
  const double beta_fast = s.beta_fast != 0 ? s.beta_fast : 32, beta_slow = s.beta_slow != 0 ? s.beta_slow : 1;
  // The dimension whose frequency turns `rotations` times over the original context.
  const auto correction_dim = [&](double rotations) {
    return (static_cast<double>(dim) * std::log(static_cast<double>(s.original_context) / (rotations * 2 * kPi))) /
           (2 * std::log(theta));
  };
  double low = correction_dim(beta_fast), high = correction_dim(beta_slow);
  if (s.truncate) low = std::floor(low), high = std::ceil(high);
  low = std::max(low, 0.0), high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // as transformers: no division by zero
  f.inv_freq.resize(static_cast<size_t>(dim / 2));
  for (size_t i = 0; i < f.inv_freq.size(); ++i) {
    // Below `low` the frequency is kept (extrapolated), above `high` divided by factor (interpolated).
    const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
    const double keep = 1 - ramp;
    const double wavelength = std::pow(theta, static_cast<double>(2 * i) / static_cast<double>(dim));
    f.inv_freq[i] = 1.0 / (s.factor * wavelength) * (1 - keep) + 1.0 / wavelength * keep;
  }
  return f;
}

RopeFrequencies longrope(const RopeScaling& s, double theta, int64_t dim, int64_t seq_len) {
  RopeFrequencies f;
  f.attention_factor = rope_attention_factor(s);
  const std::vector<double>& ext = seq_len > s.original_context ? s.long_factor : s.short_factor;
  f.inv_freq.resize(static_cast<size_t>(dim / 2));
  for (size_t i = 0; i < f.inv_freq.size(); ++i)
    f.inv_freq[i] = 1.0 / (ext[i] * std::pow(theta, static_cast<double>(2 * i) / static_cast<double>(dim)));
  return f;
}

std::vector<double> llama3(const RopeScaling& s, double theta, int64_t dim) {
  std::vector<double> inv = default_inv_freq(theta, dim);
  const double old_context = static_cast<double>(s.original_context);
  const double low_wavelen = old_context / s.low_freq_factor, high_wavelen = old_context / s.high_freq_factor;
  for (double& v : inv) {
    const double wavelen = 2 * kPi / v;
    if (wavelen > low_wavelen) {
      v /= s.factor;                         // low frequencies: interpolated
    } else if (!(wavelen < high_wavelen)) {  // between: a smooth mix (high frequencies are kept)
      const double smooth = (old_context / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      v = (1 - smooth) * v / s.factor + smooth * v;
    }
  }
  return inv;
}

}  // namespace

double rope_attention_factor(const RopeScaling& s) {
  if (s.attention_factor) return *s.attention_factor;
  if (s.type == RopeType::Yarn) {
    if (s.mscale != 0 && s.mscale_all_dim != 0)
      return yarn_mscale(s.factor, s.mscale) / yarn_mscale(s.factor, s.mscale_all_dim);
    return yarn_mscale(s.factor);
  }
  if (s.type == RopeType::LongRope && s.factor > 1)
    return std::sqrt(1 + std::log(s.factor) / std::log(static_cast<double>(s.original_context)));
  return 1.0;
}

const char* rope_type_name(RopeType t) {
  for (const TypeName& n : kTypeNames)
    if (n.type == t) return n.name;
  return "?";
}

std::optional<RopeType> rope_type_from_name(const std::string& name) {
  for (const TypeName& n : kTypeNames)
    if (name == n.name) return n.type;
  return std::nullopt;
}

int64_t RopeScaling::length_key(int64_t seq_len) const {
  if (type == RopeType::Dynamic) return std::max(seq_len, original_context);
  if (type == RopeType::LongRope) return seq_len > original_context ? 1 : 0;
  return 0;
}

void RopeScaling::validate(int64_t head_dim, const std::string& source, const RopeKeyNames& keys) const {
  const std::string& key = keys.scaling;
  const std::string type_name = rope_type_name(type);
  const bool needs_factor =
      type == RopeType::Linear || type == RopeType::Dynamic || type == RopeType::Yarn || type == RopeType::Llama3;
  if (needs_factor && !(factor >= 1 && std::isfinite(factor)))
    fail(source, key + ".factor", number(factor) + " must be >= 1 for " + type_name + " RoPE scaling");
  if (type == RopeType::LongRope && !attention_factor && !(factor >= 1 && std::isfinite(factor)))
    fail(source, key + ".factor", number(factor) + " must be >= 1 for longrope (or give attention_factor)");
  const bool needs_original =
      type == RopeType::Dynamic || type == RopeType::Yarn || type == RopeType::LongRope || type == RopeType::Llama3;
  if (needs_original && original_context <= 0)
    fail(source, keys.original, "missing: " + type_name + " RoPE scaling needs the original context length");
  if (attention_factor && !(*attention_factor > 0 && std::isfinite(*attention_factor)))
    fail(source, key + ".attention_factor", number(*attention_factor) + " must be positive");
  if (type == RopeType::Llama3 && !(low_freq_factor > 0 && high_freq_factor > low_freq_factor))
    fail(source, key + ".low_freq_factor",
         "llama3 needs 0 < low_freq_factor < high_freq_factor, got " + number(low_freq_factor) + " and " +
             number(high_freq_factor));
  if (type == RopeType::Yarn && (beta_fast < 0 || beta_slow < 0 || mscale < 0 || mscale_all_dim < 0))
    fail(source, key, "yarn's beta_fast, beta_slow, mscale and mscale_all_dim must not be negative");
  const size_t half = static_cast<size_t>(head_dim / 2);
  if (type == RopeType::LongRope)
    for (const auto* f : {&short_factor, &long_factor}) {
      const std::string name = key + (f == &short_factor ? ".short_factor" : ".long_factor");
      if (f->size() != half)
        fail(source, name, std::to_string(f->size()) + " values, expected head_dim/2 = " + std::to_string(half));
      for (double v : *f)
        if (!(v > 0) || !std::isfinite(v)) fail(source, name, "value " + number(v) + " must be positive");
    }
  if (!freq_divisors.empty() && freq_divisors.size() != half)
    fail(source, keys.freq_divisors,
         std::to_string(freq_divisors.size()) + " frequency factors, expected head_dim/2 = " + std::to_string(half));
  for (double v : freq_divisors)
    if (!(v > 0) || !std::isfinite(v))
      fail(source, keys.freq_divisors, "frequency factor " + number(v) + " must be positive");
}

RopeFrequencies rope_frequencies(const RopeScaling& s, double theta, int64_t dim, int64_t seq_len) {
  RopeFrequencies f;
  switch (s.type) {
    case RopeType::Default:
      f.inv_freq = default_inv_freq(theta, dim);
      break;
    case RopeType::Linear:
      f.inv_freq = default_inv_freq(theta, dim);
      for (double& v : f.inv_freq) v /= s.factor;
      break;
    case RopeType::Dynamic: {
      // NTK-aware: past the original context the base grows so the lowest frequency still fits.
      const double len = static_cast<double>(std::max(seq_len, s.original_context));
      const double d = static_cast<double>(dim);
      const double base =
          theta * std::pow(s.factor * len / static_cast<double>(s.original_context) - (s.factor - 1), d / (d - 2));
      f.inv_freq = default_inv_freq(base, dim);
      break;
    }
    case RopeType::Yarn:
      f = yarn(s, theta, dim);
      break;
    case RopeType::LongRope:
      f = longrope(s, theta, dim, seq_len);
      break;
    case RopeType::Llama3:
      f.inv_freq = llama3(s, theta, dim);
      break;
  }
  for (size_t i = 0; i < s.freq_divisors.size() && i < f.inv_freq.size(); ++i) f.inv_freq[i] /= s.freq_divisors[i];
  return f;
}

std::vector<float> llama3_frequency_divisors(const RopeScaling& s, double theta, int64_t dim) {
  const std::vector<double> plain = default_inv_freq(theta, dim), scaled = llama3(s, theta, dim);
  std::vector<float> divisors(plain.size());
  for (size_t i = 0; i < plain.size(); ++i) divisors[i] = static_cast<float>(plain[i] / scaled[i]);
  return divisors;
}

}  // namespace frugal
