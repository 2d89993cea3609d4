// Throughput of the blockwise codecs, scalar reference against the SIMD path, on one rows x cols fp32 matrix
// of N(0, 0.02) weights (a Llama projection's scale). MB/s counts the fp32 side (input of a quantizer, output
// of a dequantizer); each figure is the best of `repeats` runs, single-threaded. The SIMD results are checked
// against the reference's before anything is printed.
// Usage: frugal_bench_quant_codecs [rows=4096] [cols=4096] [repeats=3]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "best_seconds.h"
#include "quant/nf4.h"

using namespace frugal;

namespace {

using bench::best_seconds;

void report(const char* what, int64_t fp32_values, double ref_s, double fast_s) {
  const double mb = static_cast<double>(fp32_values) * 4.0 / 1e6;
  std::printf("%-44s %10.0f %10.0f %8.1fx\n", what, mb / ref_s, mb / fast_s, ref_s / fast_s);
}

template <typename T>
void require_same(const std::vector<T>& a, const std::vector<T>& b, const char* what) {
  if (a.size() != b.size() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) != 0) {
    std::fprintf(stderr, "%s: SIMD result differs from the reference\n", what);
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t rows = argc > 1 ? std::atoll(argv[1]) : 4096;
  const int64_t cols = argc > 2 ? std::atoll(argv[2]) : 4096;
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 3;
  const int64_t n = rows * cols;
  std::vector<float> x(static_cast<size_t>(n));
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  for (float& v : x) v = dist(rng);

  std::printf("%lld x %lld fp32, best of %d, SIMD path: %s\n", static_cast<long long>(rows),
              static_cast<long long>(cols), repeats, quant_codecs_isa());
  std::printf("%-44s %10s %10s %9s\n", "codec", "ref MB/s", "fast MB/s", "speedup");

  constexpr int64_t kBlock4 = 64;
  for (Quant4Type type : {Quant4Type::kNf4, Quant4Type::kFp4}) {
    const char* name = type == Quant4Type::kNf4 ? "nf4" : "fp4";
    std::vector<uint8_t> packed(quant4_packed_bytes(n)), packed_ref(packed.size());
    std::vector<float> absmax(num_blocks(n, kBlock4)), absmax_ref(absmax.size());
    const double ref_s = best_seconds(repeats, [&] {
      quantize_4bit_ref(x.data(), n, kBlock4, type, packed_ref.data(), absmax_ref.data());
    });
    const double fast_s =
        best_seconds(repeats, [&] { quantize_4bit(x.data(), n, kBlock4, type, packed.data(), absmax.data()); });
    require_same(packed, packed_ref, name);
    require_same(absmax, absmax_ref, name);
    report(type == Quant4Type::kNf4 ? "quantize_4bit nf4, blocksize 64" : "quantize_4bit fp4, blocksize 64", n, ref_s,
           fast_s);
    if (type == Quant4Type::kNf4) {
      std::vector<float> out(n), out_ref(n);
      const double dref_s = best_seconds(repeats, [&] {
        dequantize_4bit_ref(packed.data(), absmax.data(), n, kBlock4, type, out_ref.data());
      });
      const double dfast_s = best_seconds(
          repeats, [&] { dequantize_4bit(packed.data(), absmax.data(), n, kBlock4, type, out.data()); });
      require_same(out, out_ref, "dequantize_4bit");
      report("dequantize_4bit nf4, blocksize 64 (existing)", n, dref_s, dfast_s);
    }
  }

  const float* code = dynamic_map_signed().data();
  constexpr int64_t kBlock8 = 256;
  std::vector<uint8_t> q(n), q_ref(n);
  std::vector<float> absmax8(num_blocks(n, kBlock8)), absmax8_ref(absmax8.size());
  const double q8_ref_s = best_seconds(repeats, [&] {
    quantize_blockwise_8bit_ref(x.data(), n, kBlock8, code, q_ref.data(), absmax8_ref.data());
  });
  const double q8_fast_s =
      best_seconds(repeats, [&] { quantize_blockwise_8bit(x.data(), n, kBlock8, code, q.data(), absmax8.data()); });
  require_same(q, q_ref, "quantize_blockwise_8bit");
  require_same(absmax8, absmax8_ref, "quantize_blockwise_8bit absmax");
  report("quantize_blockwise_8bit, blocksize 256", n, q8_ref_s, q8_fast_s);

  std::vector<float> y(n), y_ref(n);
  const double d8_ref_s = best_seconds(repeats, [&] {
    dequantize_blockwise_8bit_ref(q.data(), absmax8.data(), n, kBlock8, code, y_ref.data());
  });
  const double d8_fast_s =
      best_seconds(repeats, [&] { dequantize_blockwise_8bit(q.data(), absmax8.data(), n, kBlock8, code, y.data()); });
  require_same(y, y_ref, "dequantize_blockwise_8bit");
  report("dequantize_blockwise_8bit, blocksize 256", n, d8_ref_s, d8_fast_s);

  // The double-quant path as QLoRA uses it: the matrix's blocksize-64 scales, 256 to a nested block.
  std::vector<uint8_t> packed(quant4_packed_bytes(n));
  std::vector<float> scales(num_blocks(n, kBlock4));
  quantize_4bit(x.data(), n, kBlock4, Quant4Type::kNf4, packed.data(), scales.data());
  const int64_t num_scales = static_cast<int64_t>(scales.size());
  std::vector<uint8_t> sq_ref(num_scales);
  std::vector<float> nested_ref(num_blocks(num_scales, 256)), back(num_scales), back_ref(num_scales);
  DoubleQuantScales dq;
  const double dq_ref_s = best_seconds(repeats, [&] {
    const float offset = torch_mean_f32(scales.data(), num_scales);
    std::vector<float> centred(num_scales);
    for (int64_t i = 0; i < num_scales; ++i) centred[i] = scales[i] - offset;
    quantize_blockwise_8bit_ref(centred.data(), num_scales, 256, code, sq_ref.data(), nested_ref.data());
  });
  const double dq_fast_s = best_seconds(repeats, [&] { dq = double_quantize_scales(scales.data(), num_scales); });
  require_same(dq.codes, sq_ref, "double_quantize_scales");
  report("double_quantize_scales (ref: same steps)", num_scales, dq_ref_s, dq_fast_s);
  const double dd_ref_s = best_seconds(repeats, [&] {
    dequantize_blockwise_8bit_ref(dq.codes.data(), dq.nested_absmax.data(), num_scales, 256, code, back_ref.data());
    for (float& v : back_ref) v += dq.offset;
  });
  const double dd_fast_s = best_seconds(repeats, [&] { double_dequantize_scales(dq, back.data()); });
  require_same(back, back_ref, "double_dequantize_scales");
  report("double_dequantize_scales (ref: same steps)", num_scales, dd_ref_s, dd_fast_s);
  return 0;
}
