#include "quant/int_dot_matrix.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "quant/ggml_blocks.h"

namespace frugal {

namespace {

using namespace ggml_block;

// One row decoded into codes and per-group parameters, before packing into chunks.
struct RowCodes {
  std::vector<uint8_t> u;         // padded_cols
  std::vector<float> scale, offset;  // groups
};

// How a type maps onto codes: plane, group and zero point, and a decoder of one row of its blocks.
struct TypeLayout {
  CodePlane plane;
  int group;
  int zero;        // symmetric types: w = scale * (u - zero)
  bool asymmetric;  // offsets per group instead
};

TypeLayout layout_of(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_0: return {CodePlane::Nibble, 32, 8, false};
    case GgmlType::Q4_1: return {CodePlane::Nibble, 32, 0, true};
    case GgmlType::Q5_0: return {CodePlane::Nibble5, 32, 16, false};
    case GgmlType::Q5_1: return {CodePlane::Nibble5, 32, 0, true};
    case GgmlType::Q8_0: return {CodePlane::Byte, 32, 128, false};
    case GgmlType::Q4_K: return {CodePlane::Nibble, 32, 0, true};
    case GgmlType::Q5_K: return {CodePlane::Nibble5, 32, 0, true};
    case GgmlType::Q6_K: return {CodePlane::Byte, 16, 32, false};
    default: fail("no integer-dot layout for ggml type " + ggml_type_name(static_cast<uint32_t>(type)));
  }
}

// The decoders follow ggml_dequant_ref.cpp element for element; only the output differs (codes and
// group parameters instead of floats).
void decode_row(GgmlType type, const uint8_t* x, int64_t cols, RowCodes& out) {
  uint8_t* u = out.u.data();
  float* s = out.scale.data();
  float* o = out.offset.data();
  switch (type) {
    case GgmlType::Q4_0:
    case GgmlType::Q4_1:
    case GgmlType::Q5_0:
    case GgmlType::Q5_1: {
      const bool has_m = type == GgmlType::Q4_1 || type == GgmlType::Q5_1;
      const bool five = type == GgmlType::Q5_0 || type == GgmlType::Q5_1;
      const int bytes = static_cast<int>(ggml_block_bytes(type));
      const int qs_at = type == GgmlType::Q4_0 ? Q4_0::kQs : type == GgmlType::Q4_1 ? Q4_1::kQs
                        : type == GgmlType::Q5_0 ? Q5_0::kQs : Q5_1::kQs;
      const int qh_at = type == GgmlType::Q5_0 ? Q5_0::kQh : Q5_1::kQh;
      for (int64_t b = 0; b < cols / kQK; ++b, x += bytes, u += kQK) {
        s[b] = load_fp16(x);  // d is first in every one of these blocks
        if (has_m) o[b] = load_fp16(x + 2);
        const uint8_t* qs = x + qs_at;
        const uint32_t qh = five ? load_u32(x + qh_at) : 0;
        for (int j = 0; j < kQK / 2; ++j) {
          u[j] = static_cast<uint8_t>((qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10));
          u[j + kQK / 2] = static_cast<uint8_t>((qs[j] >> 4) | ((qh >> (j + 12)) & 0x10));
        }
      }
      return;
    }
    case GgmlType::Q8_0:
      for (int64_t b = 0; b < cols / kQK; ++b, x += Q8_0::kBytes, u += kQK) {
        s[b] = load_fp16(x + Q8_0::kD);
        for (int j = 0; j < kQK; ++j) u[j] = static_cast<uint8_t>(static_cast<int8_t>(x[Q8_0::kQs + j]) + 128);
      }
      return;
    case GgmlType::Q4_K:
    case GgmlType::Q5_K: {
      const bool five = type == GgmlType::Q5_K;
      const int bytes = five ? Q5_K::kBytes : Q4_K::kBytes;
      for (int64_t b = 0; b < cols / kQK_K; ++b, x += bytes) {
        const float d = load_fp16(x + Q4_K::kD), dmin = load_fp16(x + Q4_K::kDmin);
        const uint8_t* scales = x + Q4_K::kScales;
        const uint8_t* ql = x + (five ? Q5_K::kQs : Q4_K::kQs);
        const uint8_t* qh = x + Q5_K::kQh;
        uint8_t u1 = 1, u2 = 2;
        for (int is = 0; is < 8; is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
          for (int half = 0; half < 2; ++half) {
            uint8_t sc, m;
            scale_min_k4(is + half, scales, &sc, &m);
            *s++ = d * sc;
            *o++ = -(dmin * m);  // the reference computes d1 * q - m1; + (-m1) is the same operation
          }
          for (int l = 0; l < 32; ++l) {
            u[l] = static_cast<uint8_t>((ql[l] & 0xF) + (five && (qh[l] & u1) ? 16 : 0));
            u[l + 32] = static_cast<uint8_t>((ql[l] >> 4) + (five && (qh[l] & u2) ? 16 : 0));
          }
          u += 64;
        }
      }
      return;
    }
    case GgmlType::Q6_K:
      for (int64_t b = 0; b < cols / kQK_K; ++b, x += Q6_K::kBytes) {
        const float d = load_fp16(x + Q6_K::kD);
        const uint8_t* ql = x + Q6_K::kQl;
        const uint8_t* qh = x + Q6_K::kQh;
        const int8_t* sc = reinterpret_cast<const int8_t*>(x + Q6_K::kScales);
        for (int half = 0; half < 2; ++half, u += 128, ql += 64, qh += 32, sc += 8) {
          for (int g = 0; g < 8; ++g) *s++ = d * sc[g];  // group g of 16 values is scaled by sc[g]
          for (int l = 0; l < 32; ++l) {
            u[l] = static_cast<uint8_t>((ql[l] & 0xF) | ((qh[l] & 3) << 4));
            u[l + 32] = static_cast<uint8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
            u[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
            u[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
          }
        }
      }
      return;
    default:
      layout_of(type);  // fails with the type's name
  }
}

void pack_row(const IntDotMatrix& m, const uint8_t* u, uint8_t* out) {
  for (int64_t c = 0; c < m.chunks(); ++c, u += 64, out += m.chunk_bytes()) {
    if (m.plane == CodePlane::Byte) {
      std::memcpy(out, u, 64);
      continue;
    }
    for (int j = 0; j < 32; ++j) out[j] = static_cast<uint8_t>((u[j] & 0xF) | ((u[j + 32] & 0xF) << 4));
    if (m.plane == CodePlane::Nibble5) {
      uint64_t high = 0;
      for (int e = 0; e < 64; ++e) high |= static_cast<uint64_t>((u[e] >> 4) & 1) << e;
      std::memcpy(out + 32, &high, 8);
    }
  }
}

}  // namespace

bool int_dot_supports(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_0: case GgmlType::Q4_1: case GgmlType::Q5_0: case GgmlType::Q5_1:
    case GgmlType::Q8_0: case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K:
      return true;
    default:
      return false;
  }
}

IntDotMatrix int_dot_from_ggml(GgmlType type, const uint8_t* blocks, int64_t rows, int64_t cols) {
  const TypeLayout layout = layout_of(type);
  const uint64_t row_bytes = ggml_row_bytes(type, cols);  // fails unless cols is whole blocks
  IntDotMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.padded_cols = (cols + 63) / 64 * 64;
  m.group = layout.group;
  m.plane = layout.plane;
  m.zero = layout.zero;
  m.source = ggml_type_name(static_cast<uint32_t>(type));
  m.codes.assign(static_cast<size_t>(rows * m.row_code_bytes()), 0);
  m.scale.assign(static_cast<size_t>(rows * m.groups()), 0.0f);
  if (layout.asymmetric) m.offset.assign(m.scale.size(), 0.0f);
#pragma omp parallel
  {
    RowCodes row;
    row.u.assign(static_cast<size_t>(m.padded_cols), 0);
    row.scale.assign(static_cast<size_t>(m.groups()), 0.0f);
    row.offset.assign(static_cast<size_t>(m.groups()), 0.0f);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      decode_row(type, blocks + r * row_bytes, cols, row);
      pack_row(m, row.u.data(), m.codes.data() + r * m.row_code_bytes());
      std::memcpy(&m.scale[r * m.groups()], row.scale.data(), sizeof(float) * m.groups());
      if (layout.asymmetric) std::memcpy(&m.offset[r * m.groups()], row.offset.data(), sizeof(float) * m.groups());
    }
  }
  return m;
}

uint32_t IntDotMatrix::code(int64_t r, int64_t c) const {
  const uint8_t* chunk = row_codes(r) + (c / 64) * chunk_bytes();
  const int e = static_cast<int>(c % 64);
  if (plane == CodePlane::Byte) return chunk[e];
  uint32_t u = e < 32 ? chunk[e] & 0xF : chunk[e - 32] >> 4;
  if (plane == CodePlane::Nibble5) {
    uint64_t high;
    std::memcpy(&high, chunk + 32, 8);
    u |= static_cast<uint32_t>((high >> e) & 1) << 4;
  }
  return u;
}

void IntDotMatrix::dequantize_row_ref(int64_t r, float* out) const {
  const float* s = &scale[r * groups()];
  for (int64_t c = 0; c < cols; ++c) {
    const int64_t g = c / group;
    const int u = static_cast<int>(code(r, c));
    // The same operations as the block decoders: (u - zero) * scale, or scale * u + offset.
    out[c] = symmetric() ? static_cast<float>(u - zero) * s[g] : s[g] * static_cast<float>(u) + offset[r * groups() + g];
  }
}

int64_t IntDotMatrix::bytes() const {
  return static_cast<int64_t>(codes.size() + (scale.size() + offset.size()) * sizeof(float));
}

void reset_activation(QuantizedActivation& a, int64_t cols) {
  const int64_t padded = (cols + 63) / 64 * 64;
  a.cols = cols;
  a.padded_cols = padded;
  a.q.assign(static_cast<size_t>(padded), 0);
  a.q_res.assign(static_cast<size_t>(padded), 0);
  a.d.assign(static_cast<size_t>(padded / 32), 0.0f);
  a.lane_scale.assign(static_cast<size_t>(padded / 64 * 16), 0.0f);
  a.sum16.assign(static_cast<size_t>(padded / 16), 0.0f);
  a.sum32.assign(static_cast<size_t>(padded / 32), 0.0f);
}

void quantize_activation_ref(const float* x, int64_t cols, QuantizedActivation& out) {
  reset_activation(out, cols);
  for (int64_t b = 0; b < out.padded_cols / 32; ++b) {
    const int64_t begin = b * 32, end = std::min(cols, begin + 32);
    float amax = 0.0f;
    for (int64_t i = begin; i < end; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f, id_res = id * (1 << kResidualShift);
    int sums[2] = {0, 0}, res_sums[2] = {0, 0};
    for (int64_t i = begin; i < end; ++i) {
      const int q = static_cast<int>(std::nearbyint(x[i] * id));
      const float residual = std::fma(-static_cast<float>(q), d, x[i]);  // x - q d, one rounding
      const int q_res = static_cast<int>(std::clamp(std::nearbyint(residual * id_res), -127.0f, 127.0f));
      out.q[i] = static_cast<int8_t>(q);
      out.q_res[i] = static_cast<int8_t>(q_res);
      sums[(i - begin) / 16] += q;
      res_sums[(i - begin) / 16] += q_res;
    }
    out.d[b] = d;
    out.sum16[2 * b] = activation_sum(d, sums[0], res_sums[0]);
    out.sum16[2 * b + 1] = activation_sum(d, sums[1], res_sums[1]);
    out.sum32[b] = activation_sum(d, sums[0] + sums[1], res_sums[0] + res_sums[1]);
    for (int lane = 0; lane < 8; ++lane) out.lane_scale[(b / 2) * 16 + (b % 2) * 8 + lane] = d * kResidualStep;
  }
}

double int_dot_row_ref(const IntDotMatrix& m, int64_t r, const QuantizedActivation& x) {
  double y = 0.0;
  const float* s = &m.scale[r * m.groups()];
  for (int64_t g = 0; g < m.groups(); ++g) {
    int64_t dot = 0, qsum = 0;  // of q * 256 + q_res: the activation in steps of d / 256
    for (int64_t e = g * m.group; e < (g + 1) * m.group; ++e) {
      const int64_t a = static_cast<int64_t>(x.q[e]) * (1 << kResidualShift) + x.q_res[e];
      dot += static_cast<int64_t>(m.code(r, e)) * a;
      qsum += a;
    }
    const double step = static_cast<double>(x.d[(g * m.group) / 32]) * kResidualStep;
    const double offset = m.symmetric() ? -static_cast<double>(m.zero) * s[g] : m.offset[r * m.groups() + g];
    y += static_cast<double>(s[g]) * step * static_cast<double>(dot) + offset * step * static_cast<double>(qsum);
  }
  return y;
}

}  // namespace frugal
