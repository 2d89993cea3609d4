// GGML block decoders against gguf-py (outside oracle, tests/reference/make_ggml_quant_fixtures.py)
// and the SIMD path against the scalar reference, bit for bit.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "quant/ggml_types.h"
#include "test_paths.h"

namespace frugal {
namespace {

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) ADD_FAILURE() << "cannot open fixture " << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<uint32_t> read_f32_bits(const std::string& path) {
  std::vector<uint8_t> raw = read_bytes(path);
  std::vector<uint32_t> bits(raw.size() / 4);
  std::memcpy(bits.data(), raw.data(), bits.size() * 4);
  return bits;
}

std::vector<uint32_t> to_bits(const std::vector<float>& v) {
  std::vector<uint32_t> bits(v.size());
  std::memcpy(bits.data(), v.data(), v.size() * 4);
  return bits;
}

// Compares bit patterns (so -0.0 != 0.0 and NaN payloads count) and reports the first mismatch only.
void expect_same_bits(const std::vector<uint32_t>& want, const std::vector<uint32_t>& got, const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] != got[i]) {
      ADD_FAILURE() << what << ": element " << i << " want " << bits_to_float(want[i]) << " (0x" << std::hex << want[i]
                    << ") got " << bits_to_float(got[i]) << " (0x" << got[i] << ")" << std::dec;
      return;
    }
  }
}

struct TypeCase {
  GgmlType type;
  const char* file;  // fixture stem
};

const TypeCase kAllTypes[] = {
    {GgmlType::F32, "f32"},   {GgmlType::F16, "f16"},   {GgmlType::BF16, "bf16"}, {GgmlType::Q8_0, "q8_0"},
    {GgmlType::Q4_0, "q4_0"}, {GgmlType::Q4_1, "q4_1"}, {GgmlType::Q5_0, "q5_0"}, {GgmlType::Q5_1, "q5_1"},
    {GgmlType::Q4_K, "q4_k"}, {GgmlType::Q5_K, "q5_k"}, {GgmlType::Q6_K, "q6_k"},
};

void check_fixture(const TypeCase& tc, const std::string& kind) {
  const std::string stem = test::fixture("ggml_quants/" + std::string(tc.file) + "_" + kind);
  const std::vector<uint8_t> blocks = read_bytes(stem + ".bin");
  const std::vector<uint32_t> want = read_f32_bits(stem + ".f32");
  ASSERT_FALSE(want.empty()) << stem;
  const int64_t n = static_cast<int64_t>(want.size());
  ASSERT_EQ(ggml_row_bytes(tc.type, n), blocks.size()) << stem;

  std::vector<float> ref(want.size()), fast(want.size());
  dequantize_row_ref(tc.type, blocks.data(), ref.data(), n);
  dequantize_row(tc.type, blocks.data(), fast.data(), n);
  expect_same_bits(want, to_bits(ref), stem + " (reference)");
  expect_same_bits(want, to_bits(fast), stem + " (" + ggml_dequant_isa() + ")");
}

TEST(GgmlQuants, MatchesGgufPyOnRandomBlocks) {
  for (const TypeCase& tc : kAllTypes) check_fixture(tc, "random");
}

TEST(GgmlQuants, MatchesGgufPyOnAwkwardBlocks) {
  // Zero, negative, subnormal, 65504 and infinite fp16 scales; all-0x00 / all-0xFF / 0x88 quants.
  for (const TypeCase& tc : kAllTypes)
    if (ggml_block_elems(tc.type) > 1) check_fixture(tc, "awkward");
}

TEST(GgmlQuants, QuantizeQ8_0MatchesGgufPy) {
  const std::vector<uint8_t> in = read_bytes(test::fixture("ggml_quants/q8_0_quantize.f32"));
  const std::vector<uint8_t> want = read_bytes(test::fixture("ggml_quants/q8_0_quantize.bin"));
  std::vector<float> x(in.size() / 4);
  std::memcpy(x.data(), in.data(), in.size());
  ASSERT_EQ(x.size() % 32, 0u);
  std::vector<uint8_t> got(ggml_row_bytes(GgmlType::Q8_0, static_cast<int64_t>(x.size())));
  quantize_row_q8_0(x.data(), got.data(), static_cast<int64_t>(x.size()));
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(want[i], got[i]) << "byte " << i << " (block " << i / 34 << ")";
}

TEST(GgmlQuants, QuantizeQ8_0RoundsHalfAwayFromZero) {
  // amax 127 makes d exactly 1, so x*id lands on .5: roundf gives 3 and -3 where round-to-even gives 2 and -2.
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = 2.5f;
  x[2] = -2.5f;
  uint8_t q[34];
  quantize_row_q8_0(x.data(), q, 32);
  EXPECT_EQ(fp16_to_float(static_cast<uint16_t>(q[0] | (q[1] << 8))), 1.0f);
  EXPECT_EQ(static_cast<int8_t>(q[2]), 127);
  EXPECT_EQ(static_cast<int8_t>(q[3]), 3);
  EXPECT_EQ(static_cast<int8_t>(q[4]), -3);
}

// Random bytes, with fp16 scales forced finite so the comparison exercises arithmetic rather than NaN.
std::vector<uint8_t> random_blocks(GgmlType type, int64_t n, std::mt19937& rng) {
  std::vector<uint8_t> bytes(ggml_row_bytes(type, n));
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
  const int64_t block_bytes = ggml_block_bytes(type);
  std::uniform_real_distribution<float> scale(-2.0f, 2.0f);
  std::vector<int> scale_offsets;
  switch (type) {
    case GgmlType::Q8_0:
    case GgmlType::Q4_0:
    case GgmlType::Q5_0:
      scale_offsets = {0};
      break;
    case GgmlType::Q4_1:
    case GgmlType::Q5_1:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
      scale_offsets = {0, 2};
      break;
    case GgmlType::Q6_K:
      scale_offsets = {208};
      break;
    default:
      break;  // F32 / F16 / BF16: every bit pattern is a value worth decoding
  }
  for (size_t off = 0; off < bytes.size(); off += block_bytes)
    for (int s : scale_offsets) {
      const uint16_t h = float_to_fp16(scale(rng));
      std::memcpy(&bytes[off + s], &h, 2);
    }
  return bytes;
}

TEST(GgmlQuants, FastPathEqualsReferenceBitForBit) {
  std::mt19937 rng(1234);
  for (const TypeCase& tc : kAllTypes) {
    const int64_t be = ggml_block_elems(tc.type);
    const int64_t unit = be > 1 ? be : 1;
    // Row lengths: one block, a few, and long rows; for float types also lengths that leave a SIMD tail.
    std::vector<int64_t> lengths = {unit, 3 * unit, 64 * unit / (be > 32 ? 8 : 1)};
    if (be == 1) lengths.insert(lengths.end(), {15, 17, 31, 33, 1000, 4097});
    for (int64_t n : lengths) {
      const std::vector<uint8_t> src = random_blocks(tc.type, n, rng);
      // Offset by one byte: GGUF data inside a mapped file need not be aligned for the caller.
      std::vector<uint8_t> shifted(src.size() + 1);
      std::memcpy(shifted.data() + 1, src.data(), src.size());
      std::vector<float> ref(n), fast(n + 1);
      dequantize_row_ref(tc.type, src.data(), ref.data(), n);
      dequantize_row(tc.type, shifted.data() + 1, fast.data() + 1, n);
      fast.erase(fast.begin());
      expect_same_bits(to_bits(ref), to_bits(fast),
                       std::string(tc.file) + " n=" + std::to_string(n) + " (" + ggml_dequant_isa() + ")");
    }
  }
}

TEST(GgmlQuants, TypeTable) {
  EXPECT_EQ(ggml_block_elems(GgmlType::Q4_K), 256);
  EXPECT_EQ(ggml_block_bytes(GgmlType::Q4_K), 144);
  EXPECT_EQ(ggml_block_bytes(GgmlType::Q5_K), 176);
  EXPECT_EQ(ggml_block_bytes(GgmlType::Q6_K), 210);
  EXPECT_EQ(ggml_block_bytes(GgmlType::Q8_0), 34);
  EXPECT_EQ(ggml_block_bytes(GgmlType::Q5_1), 24);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q4_0, 4096), 4096u / 32 * 18);
  EXPECT_EQ(ggml_row_bytes(GgmlType::BF16, 7), 14u);
  EXPECT_EQ(ggml_type_name(12), "Q4_K");
  EXPECT_EQ(ggml_type_name(30), "BF16");
  EXPECT_EQ(ggml_type_name(23), "IQ4_XS");
  EXPECT_EQ(ggml_type_name(4), "type 4");
  EXPECT_TRUE(ggml_type_supported(14));
  EXPECT_FALSE(ggml_type_supported(10));  // Q2_K: known, not decoded here
  EXPECT_FALSE(ggml_type_supported(1000));
  EXPECT_THROW(ggml_row_bytes(GgmlType::Q4_K, 100), Error);
  EXPECT_THROW(ggml_row_bytes(GgmlType::Q8_0, -32), Error);
  EXPECT_THROW(ggml_block_bytes(GgmlType::Q3_K), Error);
  float out[32];
  uint8_t in[34] = {};
  EXPECT_THROW(dequantize_row(GgmlType::Q2_K, in, out, 256), Error);
  EXPECT_THROW(dequantize_row(GgmlType::Q8_0, in, out, 31), Error);
}

}  // namespace
}  // namespace frugal
