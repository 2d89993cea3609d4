// Byte layouts of ggml's quantized blocks (ggml-common.h), as offsets rather than structs: GGUF data
// need not be 2-byte aligned for a caller's pointer, and memcpy of the fp16 fields is always defined.
// Shared by the reference and fast decoders so both read the same bytes the same way.
#pragma once
#include <cstdint>
#include <cstring>

#include "core/half.h"

// Fused multiply-add cannot change any result here, so neither file needs -ffp-contract=off (GCC
// fuses by default under -std=gnu++20): the only multiply-then-add forms are d*q+m (Q4_1, Q5_1) and
// (d*sc)*q-dmin*m (Q4_K, Q5_K), where d is fp16 (11 significant bits), sc <= 63 and q <= 31, so every
// product fits in fp32's 24 bits exactly and one rounding happens either way. Q6_K's (d*sc)*q can
// round, but it has no add to fuse with. Keep that in mind before adding a decoder.

namespace frugal::ggml_block {

inline constexpr int kQK = 32;     // elements in a Q4_0 / Q4_1 / Q5_0 / Q5_1 / Q8_0 block
inline constexpr int kQK_K = 256;  // elements in a K-quant super-block

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline float load_fp16(const uint8_t* p) {
  return fp16_to_float(load_u16(p));
}

// Q8_0: d f16 | qs int8[32]
struct Q8_0 {
  static constexpr int kBytes = 34, kD = 0, kQs = 2;
};
// Q4_0: d f16 | qs u8[16]; byte j holds element j (low nibble) and j+16 (high nibble)
struct Q4_0 {
  static constexpr int kBytes = 18, kD = 0, kQs = 2;
};
// Q4_1: d f16 | m f16 | qs u8[16]
struct Q4_1 {
  static constexpr int kBytes = 20, kD = 0, kM = 2, kQs = 4;
};
// Q5_0: d f16 | qh u32 (bit e = 5th bit of element e) | qs u8[16]
struct Q5_0 {
  static constexpr int kBytes = 22, kD = 0, kQh = 2, kQs = 6;
};
// Q5_1: d f16 | m f16 | qh u32 | qs u8[16]
struct Q5_1 {
  static constexpr int kBytes = 24, kD = 0, kM = 2, kQh = 4, kQs = 8;
};
// Q4_K: d f16 | dmin f16 | scales u8[12] (8 packed 6-bit scale/min pairs) | qs u8[128]
struct Q4_K {
  static constexpr int kBytes = 144, kD = 0, kDmin = 2, kScales = 4, kQs = 16;
};
// Q5_K: d f16 | dmin f16 | scales u8[12] | qh u8[32] | qs u8[128]
struct Q5_K {
  static constexpr int kBytes = 176, kD = 0, kDmin = 2, kScales = 4, kQh = 16, kQs = 48;
};
// Q6_K: ql u8[128] | qh u8[64] | scales int8[16] | d f16
struct Q6_K {
  static constexpr int kBytes = 210, kQl = 0, kQh = 128, kScales = 192, kD = 208;
};

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K super-block.
inline void scale_min_k4(int j, const uint8_t* s, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = s[j] & 63;
    *min = s[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

}  // namespace frugal::ggml_block
