// NF4 / FP4 / int8 blockwise codecs and double quantization against bitsandbytes 0.50.2 (CPU backend), the
// outside oracle: fixtures made by tests/reference/make_nf4_fixtures.py.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "quant/nf4.h"
#include "test_paths.h"

using namespace frugal;

namespace {

std::vector<uint8_t> read_bytes(const std::string& rel) {
  const std::string path = test::fixture("nf4/" + rel);
  std::ifstream in(path, std::ios::binary);
  if (!in) ADD_FAILURE() << "cannot open fixture " << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<float> read_f32(const std::string& rel) {
  const std::vector<uint8_t> b = read_bytes(rel);
  std::vector<float> v(b.size() / 4);
  if (!v.empty()) std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Bitwise equality (so -0 != +0 and NaN patterns count), reporting the first difference.
void expect_same_bits(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    if (bits(got[i]) != bits(want[i])) {
      ADD_FAILURE() << what << ": first difference at " << i << ": got " << got[i] << " want " << want[i];
      return;
    }
}

void expect_same_bytes(const std::vector<uint8_t>& got, const std::vector<uint8_t>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] != want[i]) {
      ADD_FAILURE() << what << ": first difference at byte " << i << ": got " << int(got[i]) << " want "
                    << int(want[i]);
      return;
    }
}

std::vector<float> read_input(const std::string& name) {
  if (name == "midpoints") return read_f32(name + ".in.f32");
  const std::vector<uint8_t> b = read_bytes(name + ".in.bf16");
  std::vector<float> v(b.size() / 2);
  for (size_t i = 0; i < v.size(); ++i) {
    const uint32_t u = (uint32_t(b[2 * i]) | (uint32_t(b[2 * i + 1]) << 8)) << 16;
    std::memcpy(&v[i], &u, 4);
  }
  return v;
}

const char* const kCases[] = {"normal", "zeros", "const_blocks", "outlier", "odd_tail", "midpoints", "large"};
constexpr int64_t kBlock = 64;

struct TypeName {
  Quant4Type type;
  const char* name;
};
const TypeName kTypes[] = {{Quant4Type::kNf4, "nf4"}, {Quant4Type::kFp4, "fp4"}};

}  // namespace

TEST(Nf4, CodebooksMatchEcosystemTable) {
  const auto& nf4 = quant4_codebook(Quant4Type::kNf4);
  EXPECT_EQ(nf4[0], -1.0f);
  EXPECT_EQ(nf4[7], 0.0f);
  EXPECT_EQ(nf4[15], 1.0f);
  EXPECT_EQ(nf4[8], 0.07958029955625534f);
  const auto& fp4 = quant4_codebook(Quant4Type::kFp4);
  EXPECT_EQ(fp4[3], 1.0f);
  EXPECT_EQ(fp4[11], -1.0f);
  EXPECT_TRUE(!std::signbit(fp4[8]) && fp4[8] == 0.0f);  // bnb writes -0 as a Python int: +0.0
  EXPECT_FLOAT_EQ(fp4[1], 0.0625f / 12.0f);
}

TEST(Nf4, DynamicMapEqualsBitsandbytes) {
  const std::vector<float> want = read_f32("dynamic_map.f32");
  const auto& map = dynamic_map_signed();
  expect_same_bits(std::vector<float>(map.begin(), map.end()), want, "create_dynamic_map()");
  // ... and it is the map a double-quantized state stores.
  expect_same_bits(std::vector<float>(map.begin(), map.end()), read_f32("dq_code.f32"), "state2.code");
}

TEST(Nf4, QuantizeBitIdenticalToBitsandbytes) {
  for (const char* name : kCases) {
    const std::vector<float> x = read_input(name);
    const int64_t n = static_cast<int64_t>(x.size());
    for (const TypeName& t : kTypes) {
      const std::string stem = std::string(t.name) + "_" + name;
      std::vector<uint8_t> packed(quant4_packed_bytes(n)), packed_ref(packed.size());
      std::vector<float> absmax(num_blocks(n, kBlock)), absmax_ref(absmax.size());
      quantize_4bit(x.data(), n, kBlock, t.type, packed.data(), absmax.data());
      expect_same_bytes(packed, read_bytes(stem + ".packed"), stem + " packed (" + quant_codecs_isa() + ")");
      expect_same_bits(absmax, read_f32(stem + ".absmax"), stem + " absmax");
      quantize_4bit_ref(x.data(), n, kBlock, t.type, packed_ref.data(), absmax_ref.data());
      expect_same_bytes(packed_ref, read_bytes(stem + ".packed"), stem + " packed (reference)");
      expect_same_bits(absmax_ref, read_f32(stem + ".absmax"), stem + " absmax (reference)");
    }
  }
}

TEST(Nf4, DequantizeEqualsBitsandbytesAndFastEqualsReference) {
  for (const char* name : kCases) {
    if (std::string(name) == "large") continue;  // no dequantized values stored for it
    const int64_t n = static_cast<int64_t>(read_input(name).size());
    for (const TypeName& t : kTypes) {
      const std::string stem = std::string(t.name) + "_" + name;
      const std::vector<uint8_t> packed = read_bytes(stem + ".packed");
      const std::vector<float> absmax = read_f32(stem + ".absmax");
      std::vector<float> ref(n), fast(n);
      dequantize_4bit_ref(packed.data(), absmax.data(), n, kBlock, t.type, ref.data());
      dequantize_4bit(packed.data(), absmax.data(), n, kBlock, t.type, fast.data());
      expect_same_bits(ref, read_f32(stem + ".deq"), stem + " dequantize (reference)");
      expect_same_bits(fast, ref, stem + std::string(" dequantize fast (") + dequantize_4bit_isa() + ")");
    }
  }
}

TEST(Nf4, DoubleQuantBitIdenticalToBitsandbytes) {
  for (const char* name : kCases) {
    const std::vector<float> x = read_input(name);
    const int64_t n = static_cast<int64_t>(x.size());
    for (const TypeName& t : kTypes) {
      const std::string stem = std::string(t.name) + "_dq_" + name;
      std::vector<uint8_t> packed(quant4_packed_bytes(n));
      std::vector<float> absmax(num_blocks(n, kBlock));
      quantize_4bit(x.data(), n, kBlock, t.type, packed.data(), absmax.data());
      const DoubleQuantScales dq = double_quantize_scales(absmax.data(), static_cast<int64_t>(absmax.size()));
      expect_same_bits({dq.offset}, read_f32(stem + ".offset"), stem + " offset");
      expect_same_bytes(dq.codes, read_bytes(stem + ".qabsmax"), stem + " absmax codes");
      expect_same_bits(dq.nested_absmax, read_f32(stem + ".nested_absmax"), stem + " nested_absmax");
      if (std::string(name) == "large") {
        EXPECT_EQ(dq.nested_absmax.size(), 2u);  // 266 scales: one full nested block and a short one
        continue;
      }
      std::vector<float> scales(absmax.size()), ref(n), fast(n);
      double_dequantize_scales(dq, scales.data());
      dequantize_4bit_ref(packed.data(), scales.data(), n, kBlock, t.type, ref.data());
      dequantize_4bit(packed.data(), scales.data(), n, kBlock, t.type, fast.data());
      expect_same_bits(ref, read_f32(stem + ".deq"), stem + " dequantize");
      expect_same_bits(fast, ref, stem + " dequantize fast");
    }
  }
}

TEST(Nf4, Int8BlockwiseBitIdenticalToBitsandbytes) {
  const auto& code = dynamic_map_signed();
  for (const char* name : kCases) {
    if (std::string(name) == "large") continue;
    const std::vector<float> x = read_input(name);
    const int64_t n = static_cast<int64_t>(x.size());
    const std::string stem = std::string("int8_") + name;
    std::vector<uint8_t> q(n), q_ref(n);
    std::vector<float> absmax(num_blocks(n, 256)), absmax_ref(absmax.size()), deq(n), deq_ref(n);
    quantize_blockwise_8bit(x.data(), n, 256, code.data(), q.data(), absmax.data());
    expect_same_bytes(q, read_bytes(stem + ".q"), stem + " codes (" + quant_codecs_isa() + ")");
    expect_same_bits(absmax, read_f32(stem + ".absmax"), stem + " absmax");
    dequantize_blockwise_8bit(q.data(), absmax.data(), n, 256, code.data(), deq.data());
    expect_same_bits(deq, read_f32(stem + ".deq"), stem + " dequantize");
    quantize_blockwise_8bit_ref(x.data(), n, 256, code.data(), q_ref.data(), absmax_ref.data());
    expect_same_bytes(q_ref, read_bytes(stem + ".q"), stem + " codes (reference)");
    expect_same_bits(absmax_ref, read_f32(stem + ".absmax"), stem + " absmax (reference)");
    dequantize_blockwise_8bit_ref(q_ref.data(), absmax_ref.data(), n, 256, code.data(), deq_ref.data());
    expect_same_bits(deq_ref, read_f32(stem + ".deq"), stem + " dequantize (reference)");
  }
}

TEST(Nf4, FastEqualsReferenceOnOtherBlockSizes) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int64_t bs : {32, 64, 128, 256, 4096, 48}) {  // 48: not a multiple of 32, reference fallback
    for (int64_t n : {int64_t{1}, int64_t{31}, int64_t{33}, int64_t{1000}, int64_t{8193}}) {
      std::vector<float> x(n);
      for (float& v : x) v = nd(rng);
      for (const TypeName& t : kTypes) {
        std::vector<uint8_t> packed(quant4_packed_bytes(n));
        std::vector<float> absmax(num_blocks(n, bs)), ref(n), fast(n);
        quantize_4bit(x.data(), n, bs, t.type, packed.data(), absmax.data());
        dequantize_4bit_ref(packed.data(), absmax.data(), n, bs, t.type, ref.data());
        dequantize_4bit(packed.data(), absmax.data(), n, bs, t.type, fast.data());
        expect_same_bits(fast, ref, std::string(t.name) + " bs=" + std::to_string(bs) + " n=" + std::to_string(n));
        // Round trip is close: error at most half the widest codebook gap times absmax.
        for (int64_t i = 0; i < n; ++i) ASSERT_LE(std::fabs(ref[i] - x[i]), 0.34f * absmax[i / bs]) << i;
      }
    }
  }
}

TEST(Nf4, BitsPerParameterWithDoubleQuant) {
  const double want = 4.0 + 8.0 / 64 + 32.0 / (64 * 256);
  EXPECT_DOUBLE_EQ(quant4_bits_per_param(64, true, 256), want);
  EXPECT_NEAR(want, 4.127, 0.001);
  EXPECT_DOUBLE_EQ(quant4_bits_per_param(64, false), 4.5);
  // Measured from the buffers the codec actually produces for a 4096 x 4096 weight.
  const int64_t n = int64_t{4096} * 4096;
  std::vector<float> x(n, 0.0f);
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
  std::vector<uint8_t> packed(quant4_packed_bytes(n));
  std::vector<float> absmax(num_blocks(n, 64));
  quantize_4bit(x.data(), n, 64, Quant4Type::kNf4, packed.data(), absmax.data());
  const DoubleQuantScales dq = double_quantize_scales(absmax.data(), static_cast<int64_t>(absmax.size()));
  const double bytes = double(packed.size()) + double(dq.codes.size()) + 4.0 * double(dq.nested_absmax.size());
  EXPECT_DOUBLE_EQ(bytes * 8.0 / double(n), want);
}

TEST(Nf4, RejectsBadBlockSize) {
  float x[4] = {1, 2, 3, 4}, absmax[1];
  uint8_t packed[2];
  EXPECT_ANY_THROW(quantize_4bit(x, 4, 0, Quant4Type::kNf4, packed, absmax));
  EXPECT_ANY_THROW(quantize_4bit_ref(x, 4, -64, Quant4Type::kNf4, packed, absmax));
  uint8_t q[4];
  const float* code = dynamic_map_signed().data();
  EXPECT_ANY_THROW(quantize_blockwise_8bit(x, 4, 0, code, q, absmax));
  EXPECT_ANY_THROW(dequantize_blockwise_8bit(q, absmax, 4, -1, code, x));
}
