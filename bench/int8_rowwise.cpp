// Speed of the int8 row codec (load_in_8bit dequantizes a weight before every product): the scalar
// reference against the SIMD path on one projection's shape, single-threaded and with all threads.
// Usage: frugal_bench_int8_rowwise [rows=2048] [cols=5632] [repeats=20]
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "best_seconds.h"
#include "quant/int8_rowwise.h"

using namespace frugal;
using bench::best_seconds;

int main(int argc, char** argv) {
  const int64_t rows = argc > 1 ? std::atoll(argv[1]) : 2048, cols = argc > 2 ? std::atoll(argv[2]) : 5632;
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 20;
  std::vector<float> w(static_cast<size_t>(rows * cols)), out(w.size());
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  for (float& x : w) x = dist(rng);
  const Int8RowwiseMatrix q = quantize_matrix_int8_rowwise(w.data(), rows, cols);
  const double n = static_cast<double>(w.size());
  std::printf("int8 rows %lldx%lld (%s path), best of %d\n", static_cast<long long>(rows), static_cast<long long>(cols),
              int8_rowwise_isa(), repeats);
  for (int threads : {1, omp_get_max_threads()}) {
    omp_set_num_threads(threads);
    const double deq_ref = best_seconds(repeats, [&] { q.dequantize_ref(out.data()); });
    const double deq = best_seconds(repeats, [&] { q.dequantize(out.data()); });
    const double quant_ref = best_seconds(repeats, [&] { quantize_matrix_int8_rowwise_ref(w.data(), rows, cols); });
    const double quant = best_seconds(repeats, [&] { quantize_matrix_int8_rowwise(w.data(), rows, cols); });
    std::printf("%d thread(s): dequantize ref %.2f ms (%.2f Gvalues/s), fast %.2f ms (%.2f Gvalues/s), x%.1f\n", threads,
                1e3 * deq_ref, n / deq_ref * 1e-9, 1e3 * deq, n / deq * 1e-9, deq_ref / deq);
    std::printf("%d thread(s): quantize   ref %.2f ms (%.2f Gvalues/s), fast %.2f ms (%.2f Gvalues/s), x%.1f\n", threads,
                1e3 * quant_ref, n / quant_ref * 1e-9, 1e3 * quant, n / quant * 1e-9, quant_ref / quant);
  }
  return 0;
}
