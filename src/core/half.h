// fp16 and bf16 <-> fp32 conversions, bit-exact with ggml and PyTorch (round to nearest even).
#pragma once
#include <cstdint>
#include <cstring>

namespace frugal {

inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float bf16_to_float(uint16_t h) { return bits_to_float(static_cast<uint32_t>(h) << 16); }

inline uint16_t float_to_bf16(float f) {
  uint32_t u = float_to_bits(f);
  if ((u & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((u >> 16) | 64);  // keep NaN a NaN
  return static_cast<uint16_t>((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

float fp16_to_float(uint16_t h);
uint16_t float_to_fp16(float f);

}  // namespace frugal
