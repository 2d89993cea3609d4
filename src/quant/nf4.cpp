// Scalar reference of the bitsandbytes-compatible codecs (see nf4.h). Each step mirrors the fp32 operation
// order bitsandbytes / torch use, because the goal is identical bits, not just small error:
//  - 4-bit quantize (bnb "default" backend, used on CPU): full blocks scale by x * (1 / absmax), the short tail
//    block by x / absmax; clamp to [-1, 1]; code = number of codebook midpoints strictly below the value
//    (torch.bucketize, right=False), FP4 mapped through the stable sort order of its codebook.
//  - 8-bit blockwise (bnb CPU library): x * (1 / absmax) rounded to one of 65536 bins of [-1, 1], then a
//    table of the nearest code per bin (so not always the nearest code of x itself).
#include "quant/nf4.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "quant/codec_tables.h"

namespace frugal {

namespace {

// Keep a product rounded to fp32 before it is added to something (no FMA contraction across the two ops).
inline float rounded(float v) {
#if defined(__GNUC__)
  asm volatile("" : "+x"(v));
#endif
  return v;
}

inline uint8_t code4(const Quant4Bounds& b, float scaled) {
  int pos = 0;
  while (pos < 15 && b.mid[pos] < scaled) ++pos;
  return b.code[pos];
}

inline float clamp1(float v) { return std::min(std::max(v, -1.0f), 1.0f); }

void check_blocksize(int64_t blocksize) {
  if (blocksize <= 0) throw Error("blockwise quantization: block size must be positive, got " +
                                  std::to_string(blocksize));
}

// torch.linspace(start, end, steps, dtype=float32) on CPU: from both ends towards the middle, with FMA.
std::vector<float> linspace_f32(float start, float end, int64_t steps) {
  std::vector<float> v(static_cast<size_t>(steps));
  if (steps == 1) {
    v[0] = start;
    return v;
  }
  const float step = (end - start) / static_cast<float>(steps - 1);
  const int64_t halfway = steps / 2;
  for (int64_t i = 0; i < steps; ++i)
    v[i] = i < halfway ? std::fma(step, static_cast<float>(i), start)
                       : std::fma(-step, static_cast<float>(steps - i - 1), end);
  return v;
}

// torch's multi_row_sum / row_sum / vectorized_inner_sum for float with 8-lane vectors (the AVX2 kernel,
// which torch also dispatches on AVX-512 machines for sum).
constexpr int kLanes = 8;
using Lane = std::array<float, kLanes>;

inline void add_into(Lane& a, const Lane& b) {
  for (int l = 0; l < kLanes; ++l) a[l] += b[l];
}

inline Lane load_lane(const float* p) {
  Lane v;
  std::copy(p, p + kLanes, v.begin());
  return v;
}

Lane cascade_row_sum(const float* x, int64_t num_vecs) {
  constexpr int kIlp = 4, kLevels = 4;
  const int64_t rows = num_vecs / kIlp;
  int64_t ceil_log2 = 1;
  if (rows > 2) ceil_log2 = 64 - __builtin_clzll(static_cast<unsigned long long>(rows - 1));
  const int64_t level_power = std::max<int64_t>(4, ceil_log2 / kLevels);
  const int64_t level_step = int64_t{1} << level_power;
  const int64_t level_mask = level_step - 1;
  Lane acc[kLevels][kIlp] = {};
  auto vec = [&](int64_t row, int k) { return load_lane(x + (row * kIlp + k) * kLanes); };
  int64_t i = 0;
  while (i + level_step <= rows) {
    for (int64_t j = 0; j < level_step; ++j, ++i)
      for (int k = 0; k < kIlp; ++k) add_into(acc[0][k], vec(i, k));
    for (int j = 1; j < kLevels; ++j) {
      for (int k = 0; k < kIlp; ++k) {
        add_into(acc[j][k], acc[j - 1][k]);
        acc[j - 1][k] = Lane{};
      }
      if ((i & (level_mask << (j * level_power))) != 0) break;
    }
  }
  for (; i < rows; ++i)
    for (int k = 0; k < kIlp; ++k) add_into(acc[0][k], vec(i, k));
  for (int j = 1; j < kLevels; ++j)
    for (int k = 0; k < kIlp; ++k) add_into(acc[0][k], acc[j][k]);
  for (int64_t v = rows * kIlp; v < num_vecs; ++v) add_into(acc[0][0], load_lane(x + v * kLanes));
  for (int k = 1; k < kIlp; ++k) add_into(acc[0][0], acc[0][k]);
  return acc[0][0];
}

// Scalar row_sum (inputs shorter than one vector): the same cascade with 1-element "vectors".
float scalar_row_sum(const float* x, int64_t n) {
  float p[4] = {0, 0, 0, 0};
  const int64_t rows = n / 4;  // always < 16 here, so no level is ever completed
  for (int64_t i = 0; i < rows; ++i)
    for (int k = 0; k < 4; ++k) p[k] += x[i * 4 + k];
  for (int64_t i = rows * 4; i < n; ++i) p[0] += x[i];
  for (int k = 1; k < 4; ++k) p[0] += p[k];
  return p[0];
}

}  // namespace

const std::array<float, 16>& quant4_codebook(Quant4Type type) {
  static const std::array<float, 16> nf4 = {
      -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
      -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,
      0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
      0.7229568362236023f, 1.0f};
  // E2M1 with bias 2 as bitsandbytes defines it, divided by the largest magnitude (12). Index 8 is +0.0, not
  // -0.0: bitsandbytes writes it as the Python int -0.
  static const std::array<float, 16> fp4 = [] {
    const float raw[16] = {0.0f, 0.0625f, 8.0f, 12.0f, 4.0f, 6.0f, 2.0f, 3.0f,
                           0.0f, -0.0625f, -8.0f, -12.0f, -4.0f, -6.0f, -2.0f, -3.0f};
    std::array<float, 16> c{};
    for (int i = 0; i < 16; ++i) c[i] = raw[i] / 12.0f;
    return c;
  }();
  return type == Quant4Type::kNf4 ? nf4 : fp4;
}

namespace {
// create_dynamic_map(signed, max_exponent_bits=7, total_bits=8): for exponent i = 0..6, 2^i + 1 (signed) or
// 2^(i+1) + 1 (unsigned) linearly spaced fp32 boundaries in [0.1, 1], their midpoints, times 10^(i-6) (fp32
// products; the signed map adds their negatives), then 0 and 1, sorted: 256 values either way.
std::array<float, 256> make_dynamic_map(bool is_signed) {
  constexpr int kExpBits = 7;
  const double pow10[kExpBits] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0};
  std::vector<float> data;
  for (int i = 0; i < kExpBits; ++i) {
    const std::vector<float> b = linspace_f32(0.1f, 1.0f, (int64_t{1} << (is_signed ? i : i + 1)) + 1);
    const float p = static_cast<float>(pow10[i]);
    std::vector<float> means(b.size() - 1);
    for (size_t j = 0; j + 1 < b.size(); ++j) means[j] = (b[j] + b[j + 1]) / 2.0f;
    for (float m : means) data.push_back(p * m);
    if (is_signed)
      for (float m : means) data.push_back(-p * m);
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  std::sort(data.begin(), data.end());
  std::array<float, 256> out{};
  std::copy(data.begin(), data.end(), out.begin());  // exactly 256 values
  return out;
}
}  // namespace

const std::array<float, 256>& dynamic_map_signed() {
  static const std::array<float, 256> map = make_dynamic_map(true);
  return map;
}

const std::array<float, 256>& dynamic_map_unsigned() {
  static const std::array<float, 256> map = make_dynamic_map(false);
  return map;
}

void quantize_4bit_ref(const float* x, int64_t n, int64_t blocksize, Quant4Type type, uint8_t* packed,
                       float* absmax) {
  check_blocksize(blocksize);
  const Quant4Bounds& b = quant4_bounds(type);
  const int64_t nb = num_blocks(n, blocksize);
  const int64_t full = n / blocksize;
  auto put = [&](int64_t i, uint8_t q) {
    uint8_t& byte = packed[i >> 1];
    byte = (i & 1) ? static_cast<uint8_t>((byte & 0xF0) | q) : static_cast<uint8_t>(q << 4);
  };
  for (int64_t blk = 0; blk < nb; ++blk) {
    const int64_t lo = blk * blocksize, hi = std::min(n, lo + blocksize);
    float am = 0.0f;
    for (int64_t i = lo; i < hi; ++i) am = std::max(am, std::fabs(x[i]));
    absmax[blk] = am;
    const float safe = std::max(am, 1e-38f);
    if (blk < full) {
      const float inv = 1.0f / safe;
      for (int64_t i = lo; i < hi; ++i) put(i, code4(b, clamp1(x[i] * inv)));
    } else {
      for (int64_t i = lo; i < hi; ++i) put(i, code4(b, clamp1(x[i] / safe)));
    }
  }
  if (n & 1) put(n, code4(b, 0.0f));  // padding element: the code of 0.0
}

void dequantize_4bit_ref(const uint8_t* packed, const float* absmax, int64_t n, int64_t blocksize, Quant4Type type,
                         float* out) {
  check_blocksize(blocksize);
  const auto& cb = quant4_codebook(type);
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t byte = packed[i >> 1];
    const uint8_t q = (i & 1) ? (byte & 0x0F) : (byte >> 4);
    out[i] = cb[q] * absmax[i / blocksize];
  }
}

void quantize_blockwise_8bit_ref(const float* x, int64_t n, int64_t blocksize, const float* code, uint8_t* q,
                                 float* absmax) {
  check_blocksize(blocksize);
  // bitsandbytes' CPU library does not search the code per element: it maps [-1, 1] onto 65536 bins, stores
  // the nearest code of each bin (ties to the lower code), and rounds x / absmax to a bin.
  std::vector<uint8_t> lut(kBlockwise8bitBins);
  fill_blockwise_8bit_bin_lut(code, lut.data());
  const int64_t nb = num_blocks(n, blocksize);
  for (int64_t blk = 0; blk < nb; ++blk) {
    const int64_t lo = blk * blocksize, hi = std::min(n, lo + blocksize);
    float am = 0.0f;
    for (int64_t i = lo; i < hi; ++i)
      if (!std::isnan(x[i])) am = std::max(am, std::fabs(x[i]));
    absmax[blk] = am;
    if (am == 0.0f) {
      std::fill(q + lo, q + hi, uint8_t{0});
      continue;
    }
    const float inv = 1.0f / am;
    for (int64_t i = lo; i < hi; ++i) {
      const float v = clamp1(x[i] * inv);
      const float half = rounded((v + 1.0f) * 0.5f);
      const float bin = rounded(half * static_cast<float>(kBlockwise8bitBins - 1)) + 0.5f;
      // A NaN element (or inf * 0 when absmax is inf) goes to bin 0, which is what x86's truncating conversion
      // gives it; written out because converting NaN to an integer is undefined in C++.
      q[i] = lut[std::isnan(bin) ? 0 : static_cast<uint16_t>(bin)];
    }
  }
}

void dequantize_blockwise_8bit_ref(const uint8_t* q, const float* absmax, int64_t n, int64_t blocksize,
                                   const float* code, float* out) {
  check_blocksize(blocksize);
  for (int64_t i = 0; i < n; ++i) out[i] = code[q[i]] * absmax[i / blocksize];
}

float torch_mean_f32(const float* x, int64_t n) {
  if (n <= 0) return std::nanf("");
  float sum;
  if (n < kLanes) {
    sum = scalar_row_sum(x, n);
  } else {
    const int64_t num_vecs = n / kLanes;
    const Lane acc = cascade_row_sum(x, num_vecs);
    float final_acc = 0.0f;
    for (int64_t k = num_vecs * kLanes; k < n; ++k) final_acc += x[k];
    for (int l = 0; l < kLanes; ++l) final_acc += acc[l];
    sum = final_acc;
  }
  return sum / static_cast<float>(n);
}

DoubleQuantScales double_quantize_scales(const float* absmax, int64_t num_scales, int64_t nested_blocksize) {
  check_blocksize(nested_blocksize);
  DoubleQuantScales dq;
  dq.nested_blocksize = nested_blocksize;
  dq.offset = torch_mean_f32(absmax, num_scales);
  std::vector<float> centred(static_cast<size_t>(num_scales));
  for (int64_t i = 0; i < num_scales; ++i) centred[i] = absmax[i] - dq.offset;
  dq.codes.resize(centred.size());
  dq.nested_absmax.resize(static_cast<size_t>(num_blocks(num_scales, nested_blocksize)));
  quantize_blockwise_8bit(centred.data(), num_scales, nested_blocksize, dynamic_map_signed().data(), dq.codes.data(),
                          dq.nested_absmax.data());
  return dq;
}

void double_dequantize_scales(const DoubleQuantScales& dq, float* absmax) {
  // The product is rounded to fp32 in memory before the offset is added (two roundings, as bnb), and the
  // SIMD dequantization gives the reference's bits.
  const int64_t n = static_cast<int64_t>(dq.codes.size());
  dequantize_blockwise_8bit(dq.codes.data(), dq.nested_absmax.data(), n, dq.nested_blocksize,
                            dynamic_map_signed().data(), absmax);
  for (int64_t i = 0; i < n; ++i) absmax[i] += dq.offset;
}

double quant4_bits_per_param(int64_t blocksize, bool double_quant, int64_t nested_blocksize) {
  const double b = static_cast<double>(blocksize);
  if (!double_quant) return 4.0 + 32.0 / b;
  return 4.0 + 8.0 / b + 32.0 / (b * static_cast<double>(nested_blocksize));
}

}  // namespace frugal
