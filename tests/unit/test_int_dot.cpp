// The decoding layout and its integer matrix-vector product, for every GGUF block type it takes.
// Blocks are random bytes with random but sane fp16 scales, so every code of every type occurs.
// What is checked, in order of how far from the kernel the oracle sits:
//   - the repacked matrix holds the very values ggml's reference decoder gives (bit for bit);
//   - the fast activation rounding equals its scalar reference bit for bit;
//   - the scalar reference of the product equals the double-precision dot product of the decoded
//     weights with the decoded (rounded) activation: the integer arithmetic is exact;
//   - the fast product (AVX512-VNNI) equals the scalar reference up to fp32 summation order;
//   - against the unrounded activation, the error stays within what rounding x to int8 plus an
//     int8 residual in steps of d / 256 allows: |y - w.x| <= sum |w_e| d / 256 over the row.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/half.h"
#include "kernels/int_dot.h"
#include "kernels/matmul.h"
#include "quant/ggml_types.h"
#include "quant/int_dot_matrix.h"
#include "quant/packed_matrix.h"

using namespace frugal;

namespace {

void put_fp16(uint8_t* p, float v) {
  const uint16_t h = float_to_fp16(v);
  std::memcpy(p, &h, 2);
}

// Random blocks of `type`: random code bytes, then the fp16 fields set to finite scales of a
// realistic size (a random fp16 could be inf or NaN).
std::vector<uint8_t> random_blocks(GgmlType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  const int64_t block_bytes = ggml_block_bytes(type), per_row = cols / ggml_block_elems(type);
  std::vector<uint8_t> data(static_cast<size_t>(rows * per_row * block_bytes));
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t& b : data) b = static_cast<uint8_t>(byte(rng));
  std::uniform_real_distribution<float> scale(1e-3f, 2e-2f), offset(-0.1f, 0.1f);
  for (int64_t b = 0; b < rows * per_row; ++b) {
    uint8_t* blk = &data[static_cast<size_t>(b * block_bytes)];
    switch (type) {
      case GgmlType::Q4_1:
      case GgmlType::Q5_1:
        put_fp16(blk, scale(rng));
        put_fp16(blk + 2, offset(rng));
        break;
      case GgmlType::Q4_K:
      case GgmlType::Q5_K:
        put_fp16(blk, scale(rng) * 0.1f);
        put_fp16(blk + 2, scale(rng) * 0.1f);
        break;
      case GgmlType::Q6_K:
        put_fp16(blk + 208, scale(rng) * 0.05f);
        break;
      default:
        put_fp16(blk, scale(rng));
    }
  }
  return data;
}

std::vector<float> random_activation(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = normal(rng);
  x[3] = 0.0f;
  if (n > 40) x[40] = 7.5f;  // an outlier sets its block's scale
  return x;
}

struct TypeCase {
  GgmlType type;
  int64_t rows, cols;  // cols: a row of one block type, some not a multiple of 64 (padding)
};

class IntDot : public ::testing::TestWithParam<TypeCase> {};

TEST_P(IntDot, RepackHoldsTheStoredValues) {
  const TypeCase tc = GetParam();
  std::mt19937 rng(1);
  const std::vector<uint8_t> blocks = random_blocks(tc.type, tc.rows, tc.cols, rng);
  const IntDotMatrix m = int_dot_from_ggml(tc.type, blocks.data(), tc.rows, tc.cols);
  const uint64_t row_bytes = ggml_row_bytes(tc.type, tc.cols);
  std::vector<float> want(static_cast<size_t>(tc.cols)), got(want.size());
  for (int64_t r = 0; r < tc.rows; ++r) {
    dequantize_row_ref(tc.type, blocks.data() + r * row_bytes, want.data(), tc.cols);
    m.dequantize_row_ref(r, got.data());
    for (int64_t c = 0; c < tc.cols; ++c) ASSERT_EQ(got[c], want[c]) << "row " << r << " col " << c;
    m.dequantize_row(r, got.data());  // the fast path
    for (int64_t c = 0; c < tc.cols; ++c) ASSERT_EQ(got[c], want[c]) << "fast: row " << r << " col " << c;
  }
}

TEST_P(IntDot, ProductMatchesTheDecodedWeights) {
  const TypeCase tc = GetParam();
  std::mt19937 rng(2);
  const std::vector<uint8_t> blocks = random_blocks(tc.type, tc.rows, tc.cols, rng);
  const IntDotMatrix m = int_dot_from_ggml(tc.type, blocks.data(), tc.rows, tc.cols);
  const std::vector<float> x = random_activation(tc.cols, rng);

  QuantizedActivation ref, fast;
  quantize_activation_ref(x.data(), tc.cols, ref);
  quantize_activation(x.data(), tc.cols, fast);
  ASSERT_EQ(fast.q, ref.q);
  ASSERT_EQ(fast.d, ref.d);
  ASSERT_EQ(fast.q_res, ref.q_res);
  ASSERT_EQ(fast.lane_scale, ref.lane_scale);
  ASSERT_EQ(fast.sum16, ref.sum16);
  ASSERT_EQ(fast.sum32, ref.sum32);

  std::vector<float> y_ref(static_cast<size_t>(tc.rows)), y_fast(y_ref.size()), w(static_cast<size_t>(tc.cols));
  int_dot_matvec_ref(y_ref.data(), m, ref);
  int_dot_matvec(y_fast.data(), m, fast);
  for (int64_t r = 0; r < tc.rows; ++r) {
    m.dequantize_row(r, w.data());
    double exact = 0.0, magnitude = 0.0, rounding_bound = 0.0, unrounded = 0.0;
    for (int64_t c = 0; c < tc.cols; ++c) {
      const double xr = (static_cast<double>(ref.q[c]) + static_cast<double>(ref.q_res[c]) * kResidualStep) * ref.d[c / 32];
      exact += static_cast<double>(w[c]) * xr;
      unrounded += static_cast<double>(w[c]) * x[c];
      magnitude += std::fabs(static_cast<double>(w[c]) * xr);
      rounding_bound += std::fabs(static_cast<double>(w[c])) * ref.d[c / 32] * kResidualStep;  // half a step, or a clamped one
    }
    // The reference's integer sums are exact; what is left is fp32 rounding of scales and terms.
    EXPECT_NEAR(int_dot_row_ref(m, r, ref), exact, 1e-6 * magnitude + 1e-12) << "row " << r;
    EXPECT_NEAR(y_fast[r], y_ref[r], 2e-6 * magnitude + 1e-9) << "row " << r;
    EXPECT_LE(std::fabs(y_fast[r] - unrounded), rounding_bound * 1.0001 + 1e-6 * magnitude) << "row " << r;
  }
}

// The product as the inference session calls it: matmul on a Matrix holding the repacked blocks,
// one activation row or a few, against fp32 products of the decoded weights.
TEST_P(IntDot, MatmulTakesTheIntegerPathForAFewRows) {
  const TypeCase tc = GetParam();
  std::mt19937 rng(3);
  Matrix w;
  w.set_shape(tc.rows, tc.cols);
  w.packed = pack_ggml_rows(tc.type, random_blocks(tc.type, tc.rows, tc.cols, rng), tc.rows, tc.cols);
  std::vector<float> dense(static_cast<size_t>(tc.rows * tc.cols));
  w.dequantize_into(dense.data());
  ASSERT_TRUE(prepare_int_dot(w));
  ASSERT_NE(w.packed->int_dot(), nullptr);
  const int64_t M = 3;
  std::vector<float> x;
  for (int64_t i = 0; i < M; ++i) {
    const std::vector<float> row = random_activation(tc.cols, rng);
    x.insert(x.end(), row.begin(), row.end());
  }
  std::vector<float> y(static_cast<size_t>(M * tc.rows)), want(y.size());
  matmul(y.data(), x.data(), w, M, Precision::F32);
  matmul_ref(want.data(), x.data(), dense.data(), M, tc.rows, tc.cols);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t r = 0; r < tc.rows; ++r) {
      double bound = 0.0;
      float amax = 0.0f;
      for (int64_t c = 0; c < tc.cols; ++c) amax = std::max(amax, std::fabs(x[i * tc.cols + c]));
      // The residual's step is d / 256 with d <= amax / 127.
      for (int64_t c = 0; c < tc.cols; ++c) bound += std::fabs(dense[r * tc.cols + c]) * amax / 127.0 / 256.0;
      EXPECT_NEAR(y[i * tc.rows + r], want[i * tc.rows + r], bound + 1e-4) << "x row " << i << " w row " << r;
    }
}

// Many activation rows (a prompt, perplexity) against a large compact matrix: the weight is
// dequantized a band of rows at a time, and the bands' columns must land in the right places.
TEST(IntDotBands, ManyRowsDequantizeBandByBand) {
  std::mt19937 rng(4);
  const int64_t N = 16384 + 37, K = 320, M = 9;  // N * K above the band size, with a partial last band
  Matrix w;
  w.set_shape(N, K);
  w.packed = pack_ggml_rows(GgmlType::Q8_0, random_blocks(GgmlType::Q8_0, N, K, rng), N, K);
  std::vector<float> dense(static_cast<size_t>(N * K));
  w.dequantize_into(dense.data());
  ASSERT_TRUE(prepare_int_dot(w));
  std::vector<float> x(static_cast<size_t>(M * K));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : x) v = normal(rng);
  std::vector<float> y(static_cast<size_t>(M * N)), want(y.size());
  matmul(y.data(), x.data(), w, M, Precision::F32);
  matmul_ref(want.data(), x.data(), dense.data(), M, N, K);
  for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], want[i], 1e-4 * (1.0 + std::fabs(want[i]))) << i;
}

INSTANTIATE_TEST_SUITE_P(
    EveryBlockType, IntDot,
    ::testing::Values(TypeCase{GgmlType::Q4_0, 37, 576}, TypeCase{GgmlType::Q4_1, 37, 96},
                      TypeCase{GgmlType::Q5_0, 21, 640}, TypeCase{GgmlType::Q5_1, 21, 160},
                      TypeCase{GgmlType::Q8_0, 45, 576}, TypeCase{GgmlType::Q4_K, 19, 512},
                      TypeCase{GgmlType::Q5_K, 19, 768}, TypeCase{GgmlType::Q6_K, 23, 256},
                      TypeCase{GgmlType::Q8_0, 1024, 256}),  // enough rows for the threaded split
    [](const ::testing::TestParamInfo<TypeCase>& info) {
      return ggml_type_name(static_cast<uint32_t>(info.param.type)) + "_" + std::to_string(info.param.rows) + "x" +
             std::to_string(info.param.cols);
    });

}  // namespace
