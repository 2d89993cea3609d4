// AdamW against torch.optim.AdamW (tests/fixtures/train/adamw.json, from
// tests/reference/make_adamw_fixture.py), the vectorised path against the scalar reference, and the
// gradient norm and clipping of torch.nn.utils.clip_grad_norm_.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "test_paths.h"
#include "train/optimizer.h"

namespace frugal {
namespace {

std::vector<float> floats(const nlohmann::json& a) {
  std::vector<float> out;
  for (const auto& x : a) out.push_back(static_cast<float>(x.get<double>()));
  return out;
}

// Distance in units in the last place between two floats of the same sign region.
int64_t ulps(float a, float b) {
  if (a == b) return 0;
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  if (ia < 0) ia = std::numeric_limits<int32_t>::min() - ia;
  if (ib < 0) ib = std::numeric_limits<int32_t>::min() - ib;
  return std::llabs(static_cast<int64_t>(ia) - static_cast<int64_t>(ib));
}

// |got - want| <= rel * (|want| + scale) elementwise; `scale` is the size of one update (the learning
// rate), since a value that an update nearly cancels carries the update's rounding, not its own.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, double rel, double scale,
                  const std::string& what, int64_t* max_ulps = nullptr) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int64_t worst = 0;
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    worst = std::max(worst, ulps(got[i], want[i]));
    const double tol = rel * (std::fabs(double(want[i])) + scale);
    if (!(std::fabs(double(got[i]) - double(want[i])) <= tol) && bad++ < 5)
      ADD_FAILURE() << what << " [" << i << "]: " << got[i] << " vs " << want[i];
  }
  if (max_ulps) *max_ulps = std::max(*max_ulps, worst);
}

const nlohmann::json& adamw_fixture() {
  static const nlohmann::json j = [] {
    std::ifstream in(test::fixture("train/adamw.json"));
    EXPECT_TRUE(in) << "missing tests/fixtures/train/adamw.json";
    return nlohmann::json::parse(in);
  }();
  return j;
}

struct Arrays {
  std::vector<float> values, grads, m, v;
  std::vector<ParamSegment> segments(const std::vector<size_t>& sizes) {
    std::vector<ParamSegment> out;
    size_t off = 0;
    for (size_t n : sizes) {
      out.push_back({values.data() + off, grads.data() + off, m.data() + off, v.data() + off, n});
      off += n;
    }
    return out;
  }
};

void run_fixture_case(const nlohmann::json& c, bool fast) {
  const std::string name = c["name"].get<std::string>() + (fast ? " fast" : " ref");
  Arrays a;
  a.values = floats(c["initial_values"]);
  a.m.assign(a.values.size(), 0.0f);
  a.v.assign(a.values.size(), 0.0f);
  const std::vector<size_t> sizes = c["segment_sizes"].get<std::vector<size_t>>();
  AdamWHyper h;
  h.beta1 = c["beta1"].get<double>();
  h.beta2 = c["beta2"].get<double>();
  h.epsilon = c["epsilon"].get<double>();
  h.weight_decay = c["weight_decay"].get<double>();
  int64_t step = 0, worst_ulps = 0;
  for (const auto& s : c["steps"]) {
    a.grads = floats(s["grads"]);
    h.learning_rate = s["lr"].get<double>();
    ++step;
    const std::vector<ParamSegment> segs = a.segments(sizes);
    if (fast)
      adamw_update(segs, h, step);
    else
      adamw_update_ref(segs, h, step);
    // torch's values after each step, to a few fp32 roundings: torch's sqrt (MKL) is not correctly
    // rounded, so its denominators can differ from ours by an ulp.
    expect_close(a.values, floats(s["values_after"]), 5e-7, h.learning_rate,
                 name + " values after step " + std::to_string(step), &worst_ulps);
  }
  std::printf("  %s: values within %lld ulp of torch\n", name.c_str(), static_cast<long long>(worst_ulps));
  EXPECT_EQ(step, c["final_step"].get<int64_t>());
  // The moments depend on the gradients alone, and there the arithmetic is torch's exactly.
  int64_t moment_ulps = 0;
  expect_close(a.m, floats(c["final_exp_avg"]), 0, 0, name + " exp_avg", &moment_ulps);
  expect_close(a.v, floats(c["final_exp_avg_sq"]), 0, 0, name + " exp_avg_sq", &moment_ulps);
  EXPECT_EQ(moment_ulps, 0);
}

TEST(TrainAdamW, MatchesTorchReference) {
  for (const auto& c : adamw_fixture()["cases"]) run_fixture_case(c, false);
}

TEST(TrainAdamW, FastPathMatchesTorch) {
  for (const auto& c : adamw_fixture()["cases"]) run_fixture_case(c, true);
}

// Closed form of the first step: m = (1-b1) g, v = (1-b2) g^2, so the bias-corrected update is
// lr * g / (|g| + eps): about lr * sign(g), after decoupled decay of the value.
TEST(TrainAdamW, FirstStepClosedForm) {
  float values[3] = {1.0f, -2.0f, 0.5f};
  const float grads[3] = {0.3f, -4.0f, 0.0f};
  float m[3] = {}, v[3] = {};
  AdamWHyper h;
  h.learning_rate = 0.01;
  h.weight_decay = 0.1;
  adamw_update_ref(std::vector<ParamSegment>{{values, grads, m, v, 3}}, h, 1);
  EXPECT_NEAR(values[0], 1.0 * (1 - 0.001) - 0.01 * 0.3 / (0.3 + 1e-8), 1e-6);
  EXPECT_NEAR(values[1], -2.0 * (1 - 0.001) + 0.01 * 4.0 / (4.0 + 1e-8), 1e-6);
  EXPECT_FLOAT_EQ(values[2], 0.5f * (1 - 0.001f));  // zero gradient: decay only
  EXPECT_FLOAT_EQ(m[1], -0.4f);
  EXPECT_NEAR(v[1], 0.016f, 1e-9);
}

TEST(TrainAdamW, FastPathAgreesWithReference) {
  std::printf("  adamw_update built for %s\n", adamw_isa());
  // Segment sizes hit empty, sub-vector, odd tails and multi-chunk (> 32768, threaded) cases.
  const std::vector<size_t> sizes = {0, 1, 7, 15, 16, 17, 33, 1000, 70001, 5};
  size_t total = 0;
  for (size_t n : sizes) total += n;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> exponent(-7, 1);
  Arrays fast, ref;
  fast.values.resize(total);
  for (float& x : fast.values) x = normal(rng);
  fast.m.assign(total, 0.0f);
  fast.v.assign(total, 0.0f);
  ref = fast;
  for (double beta1 : {0.9, 0.3}) {
    AdamWHyper h;
    h.beta1 = beta1;
    h.weight_decay = 0.05;
    for (int64_t step = 1; step <= 5; ++step) {
      h.learning_rate = 1e-3 / double(step);
      std::vector<float> g(total);
      for (float& x : g) x = normal(rng) * std::pow(10.0f, exponent(rng));
      fast.grads = g;
      ref.grads = g;
      adamw_update(fast.segments(sizes), h, step);
      adamw_update_ref(ref.segments(sizes), h, step);
      // Same operations in the same order with the FMAs explicit: identical bits, not merely close.
      for (size_t i = 0; i < total; ++i) {
        ASSERT_EQ(fast.values[i], ref.values[i]) << "i=" << i << " step=" << step;
        ASSERT_EQ(fast.m[i], ref.m[i]) << "i=" << i << " step=" << step;
        ASSERT_EQ(fast.v[i], ref.v[i]) << "i=" << i << " step=" << step;
      }
    }
  }
}

TEST(TrainGradNorm, DoubleAccumulationAndThreadIndependence) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> a(100003), b(40), c;
  for (float& x : a) x = normal(rng);
  for (float& x : b) x = 1000.0f * normal(rng);
  long double want = 0;
  for (float x : a) want += static_cast<long double>(x) * x;
  for (float x : b) want += static_cast<long double>(x) * x;
  const std::vector<std::span<const float>> segs = {a, b, c};
  const double norm = global_grad_norm(segs);
  EXPECT_NEAR(norm, std::sqrt(static_cast<double>(want)), 1e-12 * norm);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const double one = global_grad_norm(segs);
  omp_set_num_threads(std::max(2, threads));
  const double two = global_grad_norm(segs);
  omp_set_num_threads(threads);
  EXPECT_EQ(one, two);  // bit-identical: resumed runs must not depend on the thread count
  EXPECT_EQ(global_grad_norm(std::span<const float>(a)), global_grad_norm(std::vector<std::span<const float>>{a}));
}

TEST(TrainGradNorm, ClipsLikeTorch) {
  std::vector<float> a = {3.0f, 0.0f}, b = {4.0f};  // norm 5
  std::vector<std::span<float>> segs = {a, b};
  const double before = clip_grad_norm(segs, 1.0);
  EXPECT_DOUBLE_EQ(before, 5.0);  // the norm before clipping is returned
  const float factor = static_cast<float>(1.0 / (5.0 + 1e-6));
  EXPECT_EQ(a[0], 3.0f * factor);
  EXPECT_EQ(b[0], 4.0f * factor);
  EXPECT_NEAR(global_grad_norm(std::vector<std::span<const float>>{a, b}), 1.0, 1e-6);

  std::vector<float> small = {0.3f, 0.4f};  // norm 0.5 < 1: untouched
  EXPECT_NEAR(clip_grad_norm(std::span<float>(small), 1.0), 0.5, 1e-7);
  EXPECT_EQ(small[0], 0.3f);
  EXPECT_EQ(small[1], 0.4f);

  // Exactly at max_norm, torch's max_norm / (norm + 1e-6) is just below 1 and still scales.
  std::vector<float> edge = {1.0f};
  clip_grad_norm(std::span<float>(edge), 1.0);
  EXPECT_LT(edge[0], 1.0f);

  std::vector<float> off = {30.0f, 40.0f};
  EXPECT_DOUBLE_EQ(clip_grad_norm(std::span<float>(off), 0.0), 50.0);  // max_norm 0: measure only
  EXPECT_EQ(off[0], 30.0f);

  std::vector<float> bad = {1.0f, NAN};
  EXPECT_TRUE(std::isnan(clip_grad_norm(std::span<float>(bad), 1.0)));
  EXPECT_EQ(bad[0], 1.0f);  // left alone: the trainer skips such a step
}

}  // namespace
}  // namespace frugal
