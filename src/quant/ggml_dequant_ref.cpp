// Scalar reference decoders: one loop per type, written to follow ggml-quants.c's dequantize_row_*
// operation for operation (int -> float conversions, then d * q, then +/- m), so the floats match
// ggml and gguf-py bit for bit. The fast path is tested against these.
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/half.h"
#include "quant/ggml_blocks.h"
#include "quant/ggml_types.h"

namespace frugal {

namespace {

using namespace ggml_block;

void f16_ref(const uint8_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_float(load_u16(x + 2 * i));
}

void bf16_ref(const uint8_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_float(load_u16(x + 2 * i));
}

void q8_0_ref(const uint8_t* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += Q8_0::kBytes, y += kQK) {
    const float d = load_fp16(x + Q8_0::kD);
    const int8_t* qs = reinterpret_cast<const int8_t*>(x + Q8_0::kQs);
    for (int j = 0; j < kQK; ++j) y[j] = qs[j] * d;
  }
}

void q4_0_ref(const uint8_t* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += Q4_0::kBytes, y += kQK) {
    const float d = load_fp16(x + Q4_0::kD);
    const uint8_t* qs = x + Q4_0::kQs;
    for (int j = 0; j < kQK / 2; ++j) {
      const int x0 = (qs[j] & 0x0F) - 8;
      const int x1 = (qs[j] >> 4) - 8;
      y[j] = x0 * d;
      y[j + kQK / 2] = x1 * d;
    }
  }
}

void q4_1_ref(const uint8_t* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += Q4_1::kBytes, y += kQK) {
    const float d = load_fp16(x + Q4_1::kD);
    const float m = load_fp16(x + Q4_1::kM);
    const uint8_t* qs = x + Q4_1::kQs;
    for (int j = 0; j < kQK / 2; ++j) {
      const int x0 = qs[j] & 0x0F;
      const int x1 = qs[j] >> 4;
      y[j] = x0 * d + m;
      y[j + kQK / 2] = x1 * d + m;
    }
  }
}

void q5_0_ref(const uint8_t* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += Q5_0::kBytes, y += kQK) {
    const float d = load_fp16(x + Q5_0::kD);
    const uint32_t qh = load_u32(x + Q5_0::kQh);
    const uint8_t* qs = x + Q5_0::kQs;
    for (int j = 0; j < kQK / 2; ++j) {
      const int xh0 = ((qh >> j) << 4) & 0x10;
      const int xh1 = (qh >> (j + 12)) & 0x10;
      const int x0 = ((qs[j] & 0x0F) | xh0) - 16;
      const int x1 = ((qs[j] >> 4) | xh1) - 16;
      y[j] = x0 * d;
      y[j + kQK / 2] = x1 * d;
    }
  }
}

void q5_1_ref(const uint8_t* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += Q5_1::kBytes, y += kQK) {
    const float d = load_fp16(x + Q5_1::kD);
    const float m = load_fp16(x + Q5_1::kM);
    const uint32_t qh = load_u32(x + Q5_1::kQh);
    const uint8_t* qs = x + Q5_1::kQs;
    for (int j = 0; j < kQK / 2; ++j) {
      const int xh0 = ((qh >> j) << 4) & 0x10;
      const int xh1 = (qh >> (j + 12)) & 0x10;
      const int x0 = (qs[j] & 0x0F) | xh0;
      const int x1 = (qs[j] >> 4) | xh1;
      y[j] = x0 * d + m;
      y[j + kQK / 2] = x1 * d + m;
    }
  }
}

void q4_k_ref(const uint8_t* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += Q4_K::kBytes) {
    const float d = load_fp16(x + Q4_K::kD);
    const float dmin = load_fp16(x + Q4_K::kDmin);
    const uint8_t* scales = x + Q4_K::kScales;
    const uint8_t* q = x + Q4_K::kQs;
    for (int is = 0; is < 8; is += 2, q += 32) {
      uint8_t sc, m;
      scale_min_k4(is, scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      scale_min_k4(is + 1, scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    }
  }
}

void q5_k_ref(const uint8_t* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += Q5_K::kBytes) {
    const float d = load_fp16(x + Q5_K::kD);
    const float dmin = load_fp16(x + Q5_K::kDmin);
    const uint8_t* scales = x + Q5_K::kScales;
    const uint8_t* qh = x + Q5_K::kQh;
    const uint8_t* ql = x + Q5_K::kQs;
    uint8_t u1 = 1, u2 = 2;  // the qh bits of this 64-element chunk's two halves
    for (int is = 0; is < 8; is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
      uint8_t sc, m;
      scale_min_k4(is, scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      scale_min_k4(is + 1, scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    }
  }
}

void q6_k_ref(const uint8_t* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += Q6_K::kBytes) {
    const float d = load_fp16(x + Q6_K::kD);
    const uint8_t* ql = x + Q6_K::kQl;
    const uint8_t* qh = x + Q6_K::kQh;
    const int8_t* sc = reinterpret_cast<const int8_t*>(x + Q6_K::kScales);
    for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int8_t q1 = static_cast<int8_t>(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
        const int8_t q2 = static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        const int8_t q3 = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        const int8_t q4 = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        y[l + 0] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
    }
  }
}

}  // namespace

void dequantize_row_ref(GgmlType type, const void* src, float* dst, int64_t n) {
  const int64_t nb = n / ggml_block_elems(type);
  (void)ggml_row_bytes(type, n);  // throws unless n is a whole number of blocks
  const uint8_t* x = static_cast<const uint8_t*>(src);
  switch (type) {
    case GgmlType::F32:
      if (n > 0) std::memcpy(dst, x, static_cast<size_t>(n) * 4);
      return;
    case GgmlType::F16:
      return f16_ref(x, dst, n);
    case GgmlType::BF16:
      return bf16_ref(x, dst, n);
    case GgmlType::Q8_0:
      return q8_0_ref(x, dst, nb);
    case GgmlType::Q4_0:
      return q4_0_ref(x, dst, nb);
    case GgmlType::Q4_1:
      return q4_1_ref(x, dst, nb);
    case GgmlType::Q5_0:
      return q5_0_ref(x, dst, nb);
    case GgmlType::Q5_1:
      return q5_1_ref(x, dst, nb);
    case GgmlType::Q4_K:
      return q4_k_ref(x, dst, nb);
    case GgmlType::Q5_K:
      return q5_k_ref(x, dst, nb);
    case GgmlType::Q6_K:
      return q6_k_ref(x, dst, nb);
    default:
      fail("no decoder for ggml type " + ggml_type_name(static_cast<uint32_t>(type)));
  }
}

// ggml's quantize_row_q8_0_ref: d = amax/127 stored as fp16, q = roundf(x * (1/d)) (half away from zero).
// Note q uses the fp32 d, not the fp16-rounded one, exactly as ggml does.
void quantize_row_q8_0(const float* src, void* dst, int64_t n) {
  if (n < 0 || n % kQK != 0) fail("quantize_row_q8_0: " + std::to_string(n) + " is not a multiple of 32");
  uint8_t* y = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK, y += Q8_0::kBytes) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) {
      const float a = std::fabs(src[j]);
      amax = amax > a ? amax : a;  // ggml's MAX(), including what it does with NaN
    }
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t d16 = float_to_fp16(d);
    std::memcpy(y + Q8_0::kD, &d16, 2);
    for (int j = 0; j < kQK; ++j) {
      const float q = std::round(src[j] * id);
      // Finite inputs give |q| <= 127; NaN or inf would make the int conversion undefined, so store 0.
      y[Q8_0::kQs + j] = static_cast<uint8_t>(static_cast<int8_t>(std::fabs(q) <= 127.0f ? static_cast<int>(q) : 0));
    }
  }
}

}  // namespace frugal
