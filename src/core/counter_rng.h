// Counter-based random numbers: the value at (key, index) is a pure function, so a dropout mask
// can be regenerated in the backward pass (or in a checkpointed re-forward) instead of stored.
#pragma once
#include <cstdint>

namespace frugal {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform in [0, 1) with 24 random bits.
inline float counter_uniform(uint64_t key, uint64_t index) {
  return static_cast<float>(splitmix64(key ^ splitmix64(index)) >> 40) * (1.0f / 16777216.0f);
}

}  // namespace frugal
