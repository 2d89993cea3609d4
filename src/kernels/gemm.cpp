#include "kernels/gemm.h"

#include <map>
#include <mutex>
#include <tuple>

#include <dnnl.hpp>

namespace frugal {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

struct GemmCache {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::map<std::tuple<int64_t, int64_t, int64_t, bool, bool, bool, int>, dnnl::matmul> primitives;
  std::mutex mutex;
};

GemmCache& cache() {
  static GemmCache c;
  return c;
}

void run(float* C, const void* A, const void* B, const GemmShape& s, dt type) {
  GemmCache& g = cache();
  std::lock_guard<std::mutex> lock(g.mutex);
  const dnnl::memory::desc a_md({s.M, s.K}, type, s.trans_a ? tag::ba : tag::ab);
  const dnnl::memory::desc b_md({s.K, s.N}, type, s.trans_b ? tag::ba : tag::ab);
  const dnnl::memory::desc c_md({s.M, s.N}, dt::f32, tag::ab);
  auto key = std::make_tuple(s.M, s.N, s.K, s.trans_a, s.trans_b, s.accumulate, static_cast<int>(type));
  auto it = g.primitives.find(key);
  if (it == g.primitives.end()) {
    dnnl::primitive_attr attr;
    if (s.accumulate) {
      dnnl::post_ops ops;
      ops.append_sum(1.0f);
      attr.set_post_ops(ops);
    }
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, g.engine);
    it = g.primitives.emplace(key, dnnl::matmul(pd)).first;
  }
  dnnl::memory a(a_md, g.engine, const_cast<void*>(A));
  dnnl::memory b(b_md, g.engine, const_cast<void*>(B));
  dnnl::memory c(c_md, g.engine, C);
  it->second.execute(g.stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
  g.stream.wait();
}

}  // namespace

void gemm_f32(float* C, const float* A, const float* B, const GemmShape& s) { run(C, A, B, s, dt::f32); }
void gemm_bf16(float* C, const uint16_t* A, const uint16_t* B, const GemmShape& s) { run(C, A, B, s, dt::bf16); }

void gemm_ref(float* C, const float* A, const float* B, const GemmShape& s) {
  for (int64_t m = 0; m < s.M; ++m)
    for (int64_t n = 0; n < s.N; ++n) {
      double acc = s.accumulate ? C[m * s.N + n] : 0.0;
      for (int64_t k = 0; k < s.K; ++k) {
        const float a = s.trans_a ? A[k * s.M + m] : A[m * s.K + k];
        const float b = s.trans_b ? B[n * s.K + k] : B[k * s.N + n];
        acc += static_cast<double>(a) * b;
      }
      C[m * s.N + n] = static_cast<float>(acc);
    }
}

}  // namespace frugal
