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


}  // namespace frugal
