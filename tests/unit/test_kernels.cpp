// Fast kernels against their scalar references, and layout helpers against their inverses.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/half.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/rope.h"
#include "model/weights.h"

namespace frugal {
namespace {

std::vector<float> random_vector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max<double>(m, std::abs(a[i] - b[i]));
  return m;
}

TEST(Matmul, OnednnF32MatchesReference) {
  for (auto [M, N, K] : {std::tuple{1, 7, 5}, std::tuple{3, 64, 64}, std::tuple{17, 576, 192}, std::tuple{64, 33, 1536}}) {
    Matrix w;
    w.resize(N, K);
    w.data = random_vector(static_cast<size_t>(N) * K, 1);
    std::vector<float> x = random_vector(static_cast<size_t>(M) * K, 2), ref(M * N), fast(M * N);
    matmul_ref(ref.data(), x.data(), w.data.data(), M, N, K);
    matmul(fast.data(), x.data(), w, M, Precision::F32);
    EXPECT_LT(max_abs_diff(ref, fast), 1e-4 * std::sqrt(K)) << M << "x" << N << "x" << K;
  }
}

TEST(Matmul, Bf16MatchesReferenceWithinBf16Rounding) {
  const int64_t M = 9, N = 40, K = 256;
  Matrix w;
  w.resize(N, K);
  w.data = random_vector(static_cast<size_t>(N) * K, 3);
  prepare_bf16(w);
  std::vector<float> x = random_vector(static_cast<size_t>(M) * K, 4), ref(M * N), fast(M * N);
  matmul_ref(ref.data(), x.data(), w.data.data(), M, N, K);
  matmul(fast.data(), x.data(), w, M, Precision::BF16);
  // Each product carries two bf16 roundings (relative 2^-8 each); the sum of K terms of size ~1/3
  // has a random-walk error around sqrt(K) * 2^-8 / 3.
  EXPECT_LT(max_abs_diff(ref, fast), 0.05);
  EXPECT_GT(max_abs_diff(ref, fast), 0.0);  // it really ran in bf16
}

TEST(Rope, BackwardInvertsForward) {
  RopeTable table(rope_frequencies(RopeScaling{}, 10000.0, 8, 0), 8, 0, 32);
  std::vector<float> x = random_vector(3 * 2 * 8, 5), y = x;
  const int32_t pos[3] = {0, 7, 31};
  rope_forward(y.data(), pos, 3, 2, table);
  EXPECT_GT(max_abs_diff(x, y), 1e-3);
  rope_backward(y.data(), pos, 3, 2, table);
  EXPECT_LT(max_abs_diff(x, y), 1e-6);
}

// With an attention factor (YaRN's, here about 1.14) the forward is a scaled rotation; its backward
// must be the transpose, <R x, y> = <x, R^T y>, on a table that starts past position 0.
TEST(Rope, BackwardIsTheTransposeWithAnAttentionFactor) {
  RopeScaling yarn;
  yarn.type = RopeType::Yarn, yarn.factor = 4, yarn.original_context = 16;
  const RopeTable table(rope_frequencies(yarn, 10000.0, 8, 0), 8, 20, 12);
  ASSERT_GT(rope_attention_factor(yarn), 1.1);
  std::vector<float> x = random_vector(3 * 2 * 8, 8), y = random_vector(3 * 2 * 8, 9), rx = x, rty = y;
  const int32_t pos[3] = {20, 25, 31};
  rope_forward(rx.data(), pos, 3, 2, table);
  rope_backward(rty.data(), pos, 3, 2, table);
  double a = 0, b = 0;
  for (size_t i = 0; i < x.size(); ++i) a += double(rx[i]) * y[i], b += double(x[i]) * rty[i];
  EXPECT_NEAR(a, b, 1e-5 * std::abs(a));
  rope_backward(rx.data(), pos, 3, 2, table);  // R^T R = factor^2
  const double f2 = std::pow(rope_attention_factor(yarn), 2);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(rx[i], f2 * x[i], 1e-5);
}

TEST(Rope, PositionZeroIsIdentity) {
  RopeTable table(rope_frequencies(RopeScaling{}, 500000.0, 16, 0), 16, 0, 4);
  std::vector<float> x = random_vector(16, 6), y = x;
  const int32_t pos = 0;
  rope_forward(y.data(), &pos, 1, 1, table);
  EXPECT_EQ(x, y);
}

TEST(Weights, QkPermutationRoundTrips) {
  const int64_t heads = 3, D = 8, cols = 5;
  std::vector<float> w = random_vector(heads * D * cols, 7), p = w;
  permute_rows_meta_to_hf(p.data(), heads * D, cols, heads);
  EXPECT_NE(w, p);
  // Meta row 2i+1 of head 0 becomes HF row D/2+i.
  EXPECT_EQ(p[(D / 2 + 1) * cols], w[3 * cols]);
  permute_rows_hf_to_meta(p.data(), heads * D, cols, heads);
  EXPECT_EQ(w, p);
}

// Attention over a cache against a direct softmax(QK^T/sqrt(D))V in double.
TEST(Attention, MatchesNaiveGroupedQueryAttention) {
  const int64_t past = 3, T = 4, H = 4, KVH = 2, D = 8, S = past + T;
  std::vector<float> q = random_vector(T * H * D, 8), k = random_vector(S * KVH * D, 9), v = random_vector(S * KVH * D, 10);
  std::vector<float> out(T * H * D), ref(T * H * D);
  attention_forward(out.data(), q.data(), k.data(), v.data(), {T, past, H, KVH, D, KVH * D});
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t g = h / (H / KVH), n = past + t + 1;
      std::vector<double> s(n);
      double mx = -1e30, sum = 0;
      for (int64_t j = 0; j < n; ++j) {
        double dot = 0;
        for (int64_t i = 0; i < D; ++i) dot += q[(t * H + h) * D + i] * k[(j * KVH + g) * D + i];
        s[j] = dot / std::sqrt(static_cast<double>(D));
        mx = std::max(mx, s[j]);
      }
      for (double& e : s) sum += (e = std::exp(e - mx));
      for (int64_t i = 0; i < D; ++i) {
        double o = 0;
        for (int64_t j = 0; j < n; ++j) o += s[j] / sum * v[(j * KVH + g) * D + i];
        ref[(t * H + h) * D + i] = static_cast<float>(o);
      }
    }
  EXPECT_LT(max_abs_diff(out, ref), 1e-5);
}

}  // namespace
}  // namespace frugal

#include "kernels/attention_train.h"

namespace frugal {
namespace {

// The gemm-based training attention against the one-query-at-a-time reference, with packing
// (two segments in row 0) and padding (row 1 ends in pads), forward and backward.
TEST(AttentionTrain, FastPathMatchesReference) {
  const int64_t B = 2, T = 9, H = 4, KVH = 2, D = 8;
  const TrainAttentionDims d{B, T, H, KVH, D};
  const std::vector<int32_t> seg = {0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, -1, -1};
  auto q = random_vector(B * T * H * D, 21), k = random_vector(B * T * KVH * D, 22), v = random_vector(B * T * KVH * D, 23);
  auto dout = random_vector(B * T * H * D, 24);
  std::vector<float> o1(q.size()), o2(q.size()), l1(B * T * H), l2(B * T * H);
  attention_train_forward_ref(o1.data(), l1.data(), q.data(), k.data(), v.data(), seg.data(), d);
  attention_train_forward(o2.data(), l2.data(), q.data(), k.data(), v.data(), seg.data(), d);
  EXPECT_LT(max_abs_diff(o1, o2), 1e-5);
  EXPECT_LT(max_abs_diff(l1, l2), 1e-5);
  std::vector<float> dq1(q.size()), dq2(q.size()), dk1(k.size()), dk2(k.size()), dv1(v.size()), dv2(v.size());
  attention_train_backward_ref(dq1.data(), dk1.data(), dv1.data(), dout.data(), q.data(), k.data(), v.data(), o1.data(),
                               l1.data(), seg.data(), d);
  attention_train_backward(dq2.data(), dk2.data(), dv2.data(), dout.data(), q.data(), k.data(), v.data(), o2.data(),
                           l2.data(), seg.data(), d);
  EXPECT_LT(max_abs_diff(dq1, dq2), 1e-5);
  EXPECT_LT(max_abs_diff(dk1, dk2), 1e-5);
  EXPECT_LT(max_abs_diff(dv1, dv2), 1e-5);
}

// Sliding windows (shorter than a segment, and longer) and an attention scale other than
// 1/sqrt(D): fast path against the reference, and the reference against a direct computation.
TEST(AttentionTrain, SlidingWindowAndScaleFastPathMatchesReference) {
  const int64_t B = 2, T = 9, H = 4, KVH = 2, D = 8;
  const std::vector<int32_t> seg = {0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, -1, -1};
  auto q = random_vector(B * T * H * D, 31), k = random_vector(B * T * KVH * D, 32), v = random_vector(B * T * KVH * D, 33);
  auto dout = random_vector(B * T * H * D, 34);
  for (int64_t window : {1, 3, 20}) {
    const TrainAttentionDims d{B, T, H, KVH, D, 0.7f, window};
    std::vector<float> o1(q.size()), o2(q.size()), l1(B * T * H), l2(B * T * H);
    attention_train_forward_ref(o1.data(), l1.data(), q.data(), k.data(), v.data(), seg.data(), d);
    attention_train_forward(o2.data(), l2.data(), q.data(), k.data(), v.data(), seg.data(), d);
    EXPECT_LT(max_abs_diff(o1, o2), 1e-5) << "window " << window;
    EXPECT_LT(max_abs_diff(l1, l2), 1e-5) << "window " << window;
    // Row 1, token 6 (segment 0 from 0): keys max(0, 6 - window + 1) .. 6, scale 0.7, head 3.
    const int64_t t = 6, h = 3, row = T + t, first = std::max<int64_t>(0, t - window + 1);
    std::vector<double> s;
    double mx = -1e30, sum = 0;
    for (int64_t j = first; j <= t; ++j) {
      double dot = 0;
      for (int64_t i = 0; i < D; ++i) dot += q[row * H * D + h * D + i] * k[(T + j) * KVH * D + (h / 2) * D + i];
      s.push_back(dot * 0.7);
      mx = std::max(mx, s.back());
    }
    for (double& e : s) sum += (e = std::exp(e - mx));
    double o0 = 0;
    for (int64_t j = first; j <= t; ++j) o0 += s[j - first] / sum * v[(T + j) * KVH * D + (h / 2) * D];
    EXPECT_NEAR(o1[row * H * D + h * D], o0, 1e-5) << "window " << window;
    std::vector<float> dq1(q.size()), dq2(q.size()), dk1(k.size()), dk2(k.size()), dv1(v.size()), dv2(v.size());
    attention_train_backward_ref(dq1.data(), dk1.data(), dv1.data(), dout.data(), q.data(), k.data(), v.data(),
                                 o1.data(), l1.data(), seg.data(), d);
    attention_train_backward(dq2.data(), dk2.data(), dv2.data(), dout.data(), q.data(), k.data(), v.data(), o2.data(),
                             l2.data(), seg.data(), d);
    EXPECT_LT(max_abs_diff(dq1, dq2), 1e-5) << "window " << window;
    EXPECT_LT(max_abs_diff(dk1, dk2), 1e-5) << "window " << window;
    EXPECT_LT(max_abs_diff(dv1, dv2), 1e-5) << "window " << window;
  }
}

// Past one block of queries (256): several blocks per row, packed segments that cross a block
// boundary, a window, and a row whose last block is padding only.
TEST(AttentionTrain, QueryBlocksOfALongRowMatchTheReference) {
  const int64_t B = 2, T = 600, H = 4, KVH = 2, D = 8;
  std::vector<int32_t> seg(B * T);
  for (int64_t t = 0; t < T; ++t) {
    seg[t] = t < 300 ? 0 : t < 550 ? 1 : 2;   // row 0: segments across the 256 and 512 boundaries
    seg[T + t] = t < 500 ? 0 : -1;            // row 1: 100 pads, the third block all padding
  }
  auto q = random_vector(B * T * H * D, 61), k = random_vector(B * T * KVH * D, 62), v = random_vector(B * T * KVH * D, 63);
  auto dout = random_vector(B * T * H * D, 64);
  for (int64_t window : {0, 100}) {
    const TrainAttentionDims d{B, T, H, KVH, D, 0.0f, window};
    std::vector<float> o1(q.size()), o2(q.size()), l1(B * T * H), l2(B * T * H);
    attention_train_forward_ref(o1.data(), l1.data(), q.data(), k.data(), v.data(), seg.data(), d);
    attention_train_forward(o2.data(), l2.data(), q.data(), k.data(), v.data(), seg.data(), d);
    EXPECT_LT(max_abs_diff(o1, o2), 1e-5) << "window " << window;
    EXPECT_LT(max_abs_diff(l1, l2), 1e-5) << "window " << window;
    std::vector<float> dq1(q.size()), dq2(q.size(), 7.0f), dk1(k.size()), dk2(k.size(), 7.0f), dv1(v.size()),
        dv2(v.size(), 7.0f);  // 7: every output element must be written
    attention_train_backward_ref(dq1.data(), dk1.data(), dv1.data(), dout.data(), q.data(), k.data(), v.data(),
                                 o1.data(), l1.data(), seg.data(), d);
    attention_train_backward(dq2.data(), dk2.data(), dv2.data(), dout.data(), q.data(), k.data(), v.data(), o2.data(),
                             l2.data(), seg.data(), d);
    EXPECT_LT(max_abs_diff(dq1, dq2), 1e-5) << "window " << window;
    EXPECT_LT(max_abs_diff(dk1, dk2), 1e-5) << "window " << window;
    EXPECT_LT(max_abs_diff(dv1, dv2), 1e-5) << "window " << window;
  }
}

// The fast decode kernel against its scalar reference, over head sizes around the vector width
// (a partial last vector, more than 64 lanes), grouped heads, windows and a long cache.
TEST(Attention, FastPathMatchesTheReference) {
  for (const int64_t D : {8, 64, 80, 128, 256})
    for (const int64_t window : {0, 5}) {
      const int64_t past = D == 64 ? 700 : 13, T = 2, H = 6, KVH = 2, S = past + T;
      auto q = random_vector(T * H * D, 51), k = random_vector(S * KVH * D, 52), v = random_vector(S * KVH * D, 53);
      std::vector<float> fast(T * H * D), ref(T * H * D);
      const AttentionDims d{T, past, H, KVH, D, KVH * D, 0.0f, window};
      attention_forward(fast.data(), q.data(), k.data(), v.data(), d);
      attention_forward_ref(ref.data(), q.data(), k.data(), v.data(), d);
      EXPECT_LT(max_abs_diff(fast, ref), 1e-5) << "D " << D << " window " << window;
      // A bf16 cache: the fast path against the reference on the same rounded values, and both
      // within bf16's rounding of the fp32 result.
      std::vector<uint16_t> k16(k.size()), v16(v.size());
      for (size_t i = 0; i < k.size(); ++i) k16[i] = float_to_bf16(k[i]);
      for (size_t i = 0; i < v.size(); ++i) v16[i] = float_to_bf16(v[i]);
      std::vector<float> fast16(fast.size()), ref16(fast.size());
      attention_forward(fast16.data(), q.data(), k16.data(), v16.data(), d);
      attention_forward_ref(ref16.data(), q.data(), k16.data(), v16.data(), d);
      EXPECT_LT(max_abs_diff(fast16, ref16), 1e-5) << "bf16 cache, D " << D << " window " << window;
      EXPECT_LT(max_abs_diff(fast16, ref), 0.05) << "bf16 cache, D " << D << " window " << window;
    }
}

// The decode kernel over a cache with a window equals the training kernel on the whole sequence.
TEST(Attention, SlidingWindowOverTheCacheMatchesTheTrainingKernel) {
  const int64_t past = 5, T = 3, H = 4, KVH = 2, D = 8, S = past + T, window = 4;
  auto q = random_vector(S * H * D, 41), k = random_vector(S * KVH * D, 42), v = random_vector(S * KVH * D, 43);
  std::vector<float> full(S * H * D), lse(S * H), out(T * H * D);
  const std::vector<int32_t> seg(S, 0);
  attention_train_forward_ref(full.data(), lse.data(), q.data(), k.data(), v.data(), seg.data(),
                              {1, S, H, KVH, D, 0.4f, window});
  attention_forward(out.data(), q.data() + past * H * D, k.data(), v.data(), {T, past, H, KVH, D, KVH * D, 0.4f, window});
  std::vector<float> tail(full.begin() + past * H * D, full.end());
  EXPECT_LT(max_abs_diff(out, tail), 1e-5);
}

}  // namespace
}  // namespace frugal

#include "kernels/dropout.h"

namespace frugal {
namespace {

TEST(Dropout, KeepsTheRightFractionAndReplaysTheSameMask) {
  const int64_t n = 200003;  // not a multiple of the 4 elements one hash serves
  std::vector<float> ones(n, 1.0f), out(n), again(n, 0.5f);
  dropout_apply(out.data(), ones.data(), n, 77, 0.1f, false);
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_TRUE(out[i] == 0.0f || std::abs(out[i] - 1.0f / 0.9f) < 1e-6f);
    EXPECT_EQ(out[i] != 0.0f, dropout_keeps(77, i, 0.1f));
    kept += out[i] != 0.0f;
  }
  EXPECT_NEAR(static_cast<double>(kept) / n, 0.9, 0.005);
  dropout_apply(again.data(), ones.data(), n, 77, 0.1f, true);  // accumulate: same mask, added
  for (int64_t i = 0; i < n; i += 997) EXPECT_FLOAT_EQ(again[i], 0.5f + out[i]);
  std::vector<float> other(n);
  dropout_apply(other.data(), ones.data(), n, 78, 0.1f, false);
  EXPECT_NE(other, out);  // another stream, another mask
}

}  // namespace
}  // namespace frugal
