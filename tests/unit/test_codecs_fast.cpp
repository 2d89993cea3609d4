// The SIMD blockwise codecs (quantize_4bit, quantize_blockwise_8bit, dequantize_blockwise_8bit) against their
// scalar references, bit for bit, over lengths and block sizes around every vector and block boundary and
// over data chosen to hit the edges of the arithmetic: exact ties between codes, zeros of both signs, NaN,
// infinities, denormals, constant blocks and lone outliers. The references themselves are pinned to
// bitsandbytes by test_nf4.cpp.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "quant/codec_tables.h"
#include "quant/nf4.h"

using namespace frugal;

namespace {

using Generator = std::function<float(int64_t i, std::mt19937& rng)>;

struct DataCase {
  const char* name;
  Generator value;
};

float pick(std::mt19937& rng, const std::vector<float>& choices) {
  return choices[std::uniform_int_distribution<size_t>(0, choices.size() - 1)(rng)];
}

// Each value and its two fp32 neighbours: where a tie rule or a one-ulp difference in scaling would show.
std::vector<float> with_neighbours(const std::vector<float>& values) {
  std::vector<float> out;
  for (float v : values) {
    out.push_back(v);
    out.push_back(std::nextafter(v, -INFINITY));
    out.push_back(std::nextafter(v, INFINITY));
  }
  return out;
}

std::vector<float> quant4_midpoints() {
  std::vector<float> m;
  for (Quant4Type t : {Quant4Type::kNf4, Quant4Type::kFp4})
    for (float v : quant4_bounds(t).mid) m.push_back(v);
  for (float v : quant4_codebook(Quant4Type::kNf4)) m.push_back(v);
  for (float v : quant4_codebook(Quant4Type::kFp4)) m.push_back(v);
  return with_neighbours(m);
}

// Values that land exactly on the 8-bit codec's bin edges and on the midpoints between its codes.
std::vector<float> blockwise_8bit_edges() {
  std::vector<float> e;
  const auto& code = dynamic_map_signed();
  for (int i = 0; i < 255; ++i) e.push_back(0.5f * (code[i] + code[i + 1]));
  for (int k = 0; k < 65535; k += 257) e.push_back(-1.0f + (2.0f * k + 1.0f) / 65535.0f);
  for (float v : code) e.push_back(v);
  return with_neighbours(e);
}

constexpr int64_t kEvery = 37;  // spacing of the "special" element in mixed cases: lands on varying lanes

// Block maxima of +-1 or a power of two keep scaling exact, so the chosen values reach the code search as
// they are; other elements use block-dependent powers of two to reach every block.
std::vector<DataCase> data_cases() {
  static const std::vector<float> ties4 = quant4_midpoints();
  static const std::vector<float> edges8 = blockwise_8bit_edges();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float denorm_min = std::numeric_limits<float>::denorm_min();
  return {
      {"normal", [](int64_t, std::mt19937& r) { return std::normal_distribution<float>(0.0f, 1.0f)(r); }},
      {"zeros", [](int64_t, std::mt19937&) { return 0.0f; }},
      {"negative_zeros", [](int64_t i, std::mt19937&) { return i % 3 == 0 ? 0.0f : -0.0f; }},
      {"constant_blocks", [](int64_t i, std::mt19937&) { return 0.3f * static_cast<float>((i / 48) % 5 - 2); }},
      {"one_value", [](int64_t, std::mt19937&) { return -0.7f; }},
      {"outlier",
       [](int64_t i, std::mt19937& r) {
         if (i == 41) return 1e30f;
         if (i == 300) return -FLT_MAX;
         return std::normal_distribution<float>(0.0f, 0.01f)(r);
       }},
      {"ties_4bit",
       [](int64_t i, std::mt19937& r) {
         const float scale = std::ldexp(1.0f, static_cast<int>(i / 64) % 7 - 3);
         return (i % kEvery == 0 ? (i % 2 ? -1.0f : 1.0f) : pick(r, ties4)) * scale;
       }},
      {"ties_4bit_scaled",
       [](int64_t i, std::mt19937& r) {
         // Absmax not a power of two: x * (1 / absmax) and x / absmax differ in the last bit now and then,
         // right where it decides between two codes.
         const float scale = 0.1f + 0.37f * static_cast<float>((i / 16) % 11);
         return i % kEvery == 0 ? (i % 2 ? -scale : scale) : pick(r, ties4) * scale;
       }},
      {"edges_8bit",
       [](int64_t i, std::mt19937& r) {
         const float scale = std::ldexp(1.0f, static_cast<int>(i / 64) % 7 - 3);
         return (i % kEvery == 0 ? (i % 2 ? -1.0f : 1.0f) : pick(r, edges8)) * scale;
       }},
      {"nan",
       [nan](int64_t i, std::mt19937& r) {
         if (i % kEvery == 5 || (i >= 256 && i < 320)) return nan;  // also a whole NaN block at 256
         return std::normal_distribution<float>(0.0f, 1.0f)(r);
       }},
      {"infinities",
       [](int64_t i, std::mt19937& r) {
         if (i % 101 == 7) return (i % 2 ? -1.0f : 1.0f) * INFINITY;
         return i % 5 == 0 ? 0.0f : std::normal_distribution<float>(0.0f, 1.0f)(r);
       }},
      {"denormals",
       [denorm_min](int64_t i, std::mt19937& r) {
         // Blocks whose absmax is a denormal (below bnb's 1e-38 floor, and so small that 1 / absmax is inf),
         // mixed with zeros.
         if (i % 7 == 0) return 0.0f;
         const int ulps = std::uniform_int_distribution<int>(-3000000, 3000000)(r) >> ((i / 64) % 22);
         return static_cast<float>(ulps) * denorm_min;
       }},
      {"huge", [](int64_t, std::mt19937& r) { return std::uniform_real_distribution<float>(-1.0f, 1.0f)(r) * FLT_MAX; }},
  };
}

const int64_t kLengths[] = {0, 1, 2, 3, 15, 16, 17, 31, 33, 63, 64, 65, 127, 129, 255, 257, 1000, 4095, 4097, 8193};

std::vector<float> make_data(const DataCase& c, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[i] = c.value(i, rng);
  return x;
}

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Counts a failure once per run and says where the first difference is; returns whether all matched.
template <typename T, typename Show>
bool same(const std::vector<T>& fast, const std::vector<T>& ref, const std::string& what, Show show) {
  for (size_t i = 0; i < fast.size(); ++i)
    if (show(fast[i]) != show(ref[i])) {
      ADD_FAILURE() << what << ": first difference at " << i << " of " << fast.size() << ": fast " << show(fast[i])
                    << " reference " << show(ref[i]);
      return false;
    }
  return true;
}
bool same_bytes(const std::vector<uint8_t>& f, const std::vector<uint8_t>& r, const std::string& what) {
  return same(f, r, what, [](uint8_t b) { return int(b); });
}
bool same_bits(const std::vector<float>& f, const std::vector<float>& r, const std::string& what) {
  return same(f, r, what, [](float v) { return bits(v); });
}

std::string label(const char* codec, const DataCase& c, int64_t n, int64_t bs) {
  return std::string(codec) + " " + c.name + " n=" + std::to_string(n) + " blocksize=" + std::to_string(bs) + " (" +
         quant_codecs_isa() + ")";
}

// Outputs start from different garbage, so a byte one path forgets to write shows up as a difference.
constexpr uint8_t kFastFill = 0xA5, kRefFill = 0x5A;

void check_quantize_4bit(Quant4Type type, const char* name) {
  // 2, 6 and 48: even but not multiples of 16 (every block ends in a partial vector); 33: odd, reference.
  for (int64_t bs : {64, 128, 256, 4096, 16, 32, 2, 6, 48, 33}) {
    for (const DataCase& c : data_cases()) {
      for (int64_t n : kLengths) {
        const std::vector<float> x = make_data(c, n, static_cast<uint32_t>(n * 131 + bs));
        std::vector<uint8_t> packed(quant4_packed_bytes(n), kFastFill), packed_ref(packed.size(), kRefFill);
        std::vector<float> absmax(num_blocks(n, bs), -1.0f), absmax_ref(absmax.size(), -2.0f);
        quantize_4bit(x.data(), n, bs, type, packed.data(), absmax.data());
        quantize_4bit_ref(x.data(), n, bs, type, packed_ref.data(), absmax_ref.data());
        const std::string what = label(name, c, n, bs);
        if (!same_bytes(packed, packed_ref, what + " packed") || !same_bits(absmax, absmax_ref, what + " absmax"))
          return;  // one report per codec is enough to find the bug
      }
    }
  }
}

}  // namespace

TEST(Nf4Fast, QuantizeNf4EqualsReference) { check_quantize_4bit(Quant4Type::kNf4, "nf4"); }

TEST(Nf4Fast, QuantizeFp4EqualsReference) { check_quantize_4bit(Quant4Type::kFp4, "fp4"); }

TEST(Nf4Fast, QuantizeBlockwise8bitEqualsReference) {
  const float* code = dynamic_map_signed().data();
  for (int64_t bs : {64, 256, 4096, 16, 1, 7, 48}) {
    for (const DataCase& c : data_cases()) {
      for (int64_t n : kLengths) {
        const std::vector<float> x = make_data(c, n, static_cast<uint32_t>(n * 17 + bs));
        std::vector<uint8_t> q(n, kFastFill), q_ref(n, kRefFill);
        std::vector<float> absmax(num_blocks(n, bs), -1.0f), absmax_ref(absmax.size(), -2.0f);
        quantize_blockwise_8bit(x.data(), n, bs, code, q.data(), absmax.data());
        quantize_blockwise_8bit_ref(x.data(), n, bs, code, q_ref.data(), absmax_ref.data());
        const std::string what = label("int8", c, n, bs);
        if (!same_bytes(q, q_ref, what + " codes") || !same_bits(absmax, absmax_ref, what + " absmax")) return;
      }
    }
  }
}

TEST(Nf4Fast, QuantizeBlockwise8bitFollowsTheCodeItIsGiven) {
  // The fast path derives its search tables from the code and caches them per thread: a second code must not
  // reuse the first's. "wide" reaches past [-1, 1] (codes no bin reaches, and codes every bin exceeds).
  auto linear = [](float lo, float hi) {
    std::vector<float> c(256);
    for (int i = 0; i < 256; ++i) c[i] = lo + (hi - lo) * static_cast<float>(i) / 255.0f;
    return c;
  };
  const std::vector<float> unit = linear(-1.0f, 1.0f), wide = linear(-1.5f, 1.5f), narrow = linear(-0.5f, 0.5f);
  const std::vector<float> dynamic(dynamic_map_signed().begin(), dynamic_map_signed().end());
  const DataCase normal = data_cases()[0];
  const std::vector<float> x = make_data(normal, 1000, 3);
  const std::pair<const char*, const std::vector<float>*> codes[] = {
      {"dynamic map", &dynamic}, {"linear", &unit}, {"wide", &wide}, {"narrow", &narrow}, {"dynamic map again", &dynamic}};
  for (const auto& [name, code] : codes) {
    std::vector<uint8_t> q(1000), q_ref(1000);
    std::vector<float> absmax(num_blocks(1000, 64)), absmax_ref(absmax.size());
    quantize_blockwise_8bit(x.data(), 1000, 64, code->data(), q.data(), absmax.data());
    quantize_blockwise_8bit_ref(x.data(), 1000, 64, code->data(), q_ref.data(), absmax_ref.data());
    if (!same_bytes(q, q_ref, name)) return;
  }
}

TEST(Nf4Fast, DequantizeBlockwise8bitEqualsReference) {
  const float* code = dynamic_map_signed().data();
  const float absmax_specials[] = {0.0f, -0.0f, 1.0f, FLT_MAX, INFINITY, std::numeric_limits<float>::quiet_NaN(),
                                   std::numeric_limits<float>::denorm_min(), 1e-39f, 3.3f};
  std::mt19937 rng(11);
  for (int64_t bs : {64, 256, 4096, 16, 1, 7, 48}) {
    for (int64_t n : kLengths) {
      std::vector<uint8_t> q(n);
      for (auto& b : q) b = static_cast<uint8_t>(rng());
      std::vector<float> absmax(num_blocks(n, bs));
      for (size_t b = 0; b < absmax.size(); ++b)
        absmax[b] = b % 3 == 0 ? absmax_specials[(b / 3) % std::size(absmax_specials)]
                               : std::uniform_real_distribution<float>(0.0f, 2.0f)(rng);
      std::vector<float> out(n, -1.0f), out_ref(n, -2.0f);
      dequantize_blockwise_8bit(q.data(), absmax.data(), n, bs, code, out.data());
      dequantize_blockwise_8bit_ref(q.data(), absmax.data(), n, bs, code, out_ref.data());
      if (!same_bits(out, out_ref, "int8 dequantize n=" + std::to_string(n) + " blocksize=" + std::to_string(bs)))
        return;
    }
  }
}

TEST(Nf4Fast, DoubleQuantScalesEqualTheReferenceComposition) {
  // double_quantize_scales / double_dequantize_scales run on the fast 8-bit codec; spelled out with the
  // references they must give the same bytes and bits (offset = torch mean, two fp32 roundings on the way back).
  std::mt19937 rng(5);
  const float* code = dynamic_map_signed().data();
  for (int64_t num_scales : {1, 17, 255, 256, 257, 1000, 4096 + 33}) {
    for (int64_t nested : {256, 64}) {
      std::vector<float> scales(num_scales);
      for (float& s : scales) s = std::fabs(std::normal_distribution<float>(0.0f, 0.05f)(rng));
      const DoubleQuantScales dq = double_quantize_scales(scales.data(), num_scales, nested);

      const float offset = torch_mean_f32(scales.data(), num_scales);
      std::vector<float> centred(num_scales);
      for (int64_t i = 0; i < num_scales; ++i) centred[i] = scales[i] - offset;
      std::vector<uint8_t> codes_ref(num_scales);
      std::vector<float> nested_ref(num_blocks(num_scales, nested));
      quantize_blockwise_8bit_ref(centred.data(), num_scales, nested, code, codes_ref.data(), nested_ref.data());
      const std::string what = "double quant of " + std::to_string(num_scales) + " scales, nested " +
                               std::to_string(nested);
      EXPECT_EQ(bits(dq.offset), bits(offset)) << what;
      if (!same_bytes(dq.codes, codes_ref, what + " codes") || !same_bits(dq.nested_absmax, nested_ref, what))
        return;

      std::vector<float> back(num_scales), back_ref(num_scales);
      double_dequantize_scales(dq, back.data());
      dequantize_blockwise_8bit_ref(codes_ref.data(), nested_ref.data(), num_scales, nested, code, back_ref.data());
      for (float& v : back_ref) v += offset;  // a separate pass: the product is already rounded to fp32
      if (!same_bits(back, back_ref, what + " dequantized")) return;
    }
  }
}
