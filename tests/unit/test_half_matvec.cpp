// 16-bit weights read as stored (kernels/half_matvec.h): the fast path against the scalar reference
// over row and column tails and up to kHalfMatvecMaxRows activation rows; and end to end, a GGUF
// that llama.cpp's converter wrote in F16 and in BF16 (tests/reference/make_half_gguf_fixtures.py),
// decoded token by token through these kernels, against transformers' logits on the same rounded
// weights.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/half.h"
#include "format/safetensors.h"
#include "infer/session.h"
#include "kernels/half_matvec.h"
#include "kernels/matmul.h"
#include "model/model.h"
#include "test_paths.h"

namespace frugal {
namespace {

struct Case {
  int64_t rows, cols, M;
};

TEST(HalfMatvec, FastPathMatchesTheReference) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (bool bf16 : {false, true}) {
    for (const Case c : {Case{1, 7, 1}, Case{5, 16, 1}, Case{13, 33, 3}, Case{64, 576, 1}, Case{67, 1536, 8},
                         Case{3, 100, 8}}) {
      std::vector<uint16_t> w(static_cast<size_t>(c.rows * c.cols));
      for (uint16_t& v : w) v = bf16 ? float_to_bf16(normal(rng)) : float_to_fp16(normal(rng));
      std::vector<float> x(static_cast<size_t>(c.M * c.cols));
      for (float& v : x) v = normal(rng);
      const HalfRows h{bf16, w.data(), c.rows, c.cols};
      std::vector<float> fast(static_cast<size_t>(c.M * c.rows)), ref(fast.size());
      half_matvec(fast.data(), x.data(), c.M, h);
      half_matvec_ref(ref.data(), x.data(), c.M, h);
      for (size_t i = 0; i < ref.size(); ++i) {
        // Only the order of the fp32 additions differs: bound by the sum of |terms|.
        double bound = 0;
        const int64_t m = static_cast<int64_t>(i) / c.rows, n = static_cast<int64_t>(i) % c.rows;
        for (int64_t k = 0; k < c.cols; ++k) {
          const uint16_t v = w[static_cast<size_t>(n * c.cols + k)];
          bound += std::abs((bf16 ? bf16_to_float(v) : fp16_to_float(v)) * x[static_cast<size_t>(m * c.cols + k)]);
        }
        EXPECT_NEAR(fast[i], ref[i], 1e-6 * bound + 1e-7)
            << (bf16 ? "bf16" : "f16") << " " << c.rows << "x" << c.cols << " M=" << c.M << " at " << i;
      }
    }
  }
}

// A decode step on a GGUF's F16 / BF16 matrices goes through these kernels with the weights kept in
// their 16 bits (never an fp32 copy), and computes what transformers computes on those weights.
TEST(HalfMatvec, GgufDecodeMatchesTransformersOnTheSameWeights) {
  const std::string dir = test::fixture("families/llama3");
  nlohmann::json e;
  std::ifstream(dir + "/expected.json") >> e;
  const SafetensorsFile expected(dir + "/expected_half.safetensors");
  for (const std::string type : {"f16", "bf16"}) {
    LoadOptions options;
    options.int_dot_layout = true;
    auto model = load_model(dir + "/model-" + type + ".gguf", "", options);
    const Matrix& wq = model->weights.layers[0].wq;
    ASSERT_TRUE(wq.packed && wq.packed->half_rows()) << type << ": the projection is not kept in 16 bits";
    EXPECT_TRUE(wq.data.empty()) << type;
    const int64_t V = model->config.vocab_size;
    for (size_t p = 0; p < e["prompts"].size(); ++p) {
      const std::vector<int32_t> ids = e["prompts"][p];
      const std::vector<float> want = to_f32(expected.get(type + "_logits_" + std::to_string(p)));
      InferenceSession session(*model, static_cast<int64_t>(ids.size()), Precision::F32);
      double worst = 0;
      for (size_t t = 0; t < ids.size(); ++t) {  // one token per call: every product is a decode step
        const std::vector<float>& got = session.forward(&ids[t], 1);
        for (int64_t v = 0; v < V; ++v)
          worst = std::max<double>(worst, std::abs(got[v] - want[t * V + v]));
      }
      EXPECT_LT(worst, 1e-4) << type << " prompt " << p;
    }
  }
}

}  // namespace
}  // namespace frugal
