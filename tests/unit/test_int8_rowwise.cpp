// The int8 row codec against bitsandbytes 0.50.2 bit for bit (tests/fixtures/bnb_int8/codec.json, made by
// tests/reference/make_bnb_int8_fixtures.py: zero and constant rows, an outlier, exact ties, rows of length 1,
// negative values, values float16 rounds), and the SIMD path against the scalar reference.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "quant/int8_rowwise.h"
#include "test_paths.h"

namespace frugal {
namespace {

std::vector<float> floats_of(const nlohmann::json& bits) {
  std::vector<float> v;
  for (const auto& b : bits) v.push_back(std::bit_cast<float>(static_cast<uint32_t>(b.get<int64_t>())));
  return v;
}

std::vector<uint32_t> bits_of(const std::vector<float>& v) {
  std::vector<uint32_t> b;
  for (float f : v) b.push_back(std::bit_cast<uint32_t>(f));
  return b;
}

TEST(Int8Rowwise, MatchesBitsandbytesBitForBit) {
  std::ifstream in(test::fixture("bnb_int8/codec.json"));
  const nlohmann::json fixture = nlohmann::json::parse(in);
  int ties = 0, float16_changes = 0;
  for (const nlohmann::json& c : fixture["cases"]) {
    const std::string name = c["name"];
    const int64_t rows = c["rows"], cols = c["cols"];
    const std::vector<float> input = floats_of(c["input_bits"]);
    const std::vector<int8_t> codes(c["codes"].begin(), c["codes"].end());
    const std::vector<uint32_t> absmax = bits_of(floats_of(c["absmax_bits"]));
    const std::vector<uint32_t> dequant = bits_of(floats_of(c["dequant_bits"]));
    ASSERT_EQ(static_cast<int64_t>(input.size()), rows * cols) << name;
    for (auto quantize : {quantize_matrix_int8_rowwise, quantize_matrix_int8_rowwise_ref}) {
      const Int8RowwiseMatrix q = quantize(input.data(), rows, cols, name);
      EXPECT_EQ(q.codes, codes) << name;
      EXPECT_EQ(bits_of(q.absmax), absmax) << name;
      std::vector<float> out(input.size()), ref(input.size());
      q.dequantize(out.data());
      q.dequantize_ref(ref.data());
      EXPECT_EQ(bits_of(out), dequant) << name;
      EXPECT_EQ(bits_of(ref), dequant) << name;
    }
    ties += c["exact_ties"].get<int>();
    float16_changes += c["codes_changed_by_float16_cast"].get<int>();
  }
  // The fixture exercises what it claims to: exact ties, and codes only the float16 cast explains.
  EXPECT_GT(ties, 300);
  EXPECT_GT(float16_changes, 10);
}

TEST(Int8Rowwise, FastPathEqualsReferenceBitForBit) {
  std::printf("int8 rows: %s path\n", int8_rowwise_isa());
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t cols : {1, 2, 15, 16, 17, 31, 33, 64, 100, 172, 1000}) {
    for (float magnitude : {1e-6f, 0.02f, 1.0f, 300.0f}) {
      const int64_t rows = 5;
      std::vector<float> w(static_cast<size_t>(rows * cols));
      for (float& x : w) x = normal(rng) * magnitude;
      for (int64_t c = 0; c < cols; ++c) w[c] = 0.0f;  // a zero row
      if (cols > 3) w[static_cast<size_t>(2 * cols + 3)] = 60000.0f;  // an outlier near float16's top
      for (int64_t c = 0; c < cols; ++c) w[static_cast<size_t>(3 * cols + c)] = static_cast<float>(c % 7) * 0.5f;  // ties
      const Int8RowwiseMatrix fast = quantize_matrix_int8_rowwise(w.data(), rows, cols);
      const Int8RowwiseMatrix ref = quantize_matrix_int8_rowwise_ref(w.data(), rows, cols);
      EXPECT_EQ(fast.codes, ref.codes) << cols << " " << magnitude;
      EXPECT_EQ(bits_of(fast.absmax), bits_of(ref.absmax)) << cols << " " << magnitude;
      std::vector<float> a(w.size()), b(w.size());
      fast.dequantize(a.data());
      fast.dequantize_ref(b.data());
      EXPECT_EQ(bits_of(a), bits_of(b)) << cols << " " << magnitude;
    }
  }
  // Every int8 code and many scales through the dequantizers.
  Int8RowwiseMatrix all;
  all.rows = 64;
  all.cols = 255 + 9;
  for (int64_t r = 0; r < all.rows; ++r) {
    all.absmax.push_back(std::ldexp(1.0f + static_cast<float>(r) / 64.0f, static_cast<int>(r % 20) - 10));
    for (int64_t c = 0; c < all.cols; ++c) all.codes.push_back(static_cast<int8_t>(c % 255 - 127));
  }
  std::vector<float> a(all.codes.size()), b(all.codes.size());
  all.dequantize(a.data());
  all.dequantize_ref(b.data());
  EXPECT_EQ(bits_of(a), bits_of(b));
}

TEST(Int8Rowwise, ValuesBeyondFloat16AreRefused) {
  for (float bad : {65520.0f, -1e30f, INFINITY, NAN}) {
    std::vector<float> w(2 * 40, 0.5f);
    w[40 + 33] = bad;
    for (auto quantize : {quantize_matrix_int8_rowwise, quantize_matrix_int8_rowwise_ref}) {
      try {
        quantize(w.data(), 2, 40, "model.layers.0.mlp.up_proj");
        ADD_FAILURE() << bad;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("model.layers.0.mlp.up_proj: row 1: holds a value float16 cannot represent"),
                  std::string::npos) << e.what();
      }
    }
  }
  std::vector<float> top(8, 65519.0f);  // float16 rounds this to its largest finite value: accepted
  EXPECT_EQ(quantize_matrix_int8_rowwise(top.data(), 1, 8).absmax[0], 65504.0f);
}

}  // namespace
}  // namespace frugal
