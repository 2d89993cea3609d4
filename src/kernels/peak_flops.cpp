#include "kernels/peak_flops.h"

#include <omp.h>

#include <chrono>
#include <cstdint>

#if defined(__AVX512F__)
#include "quant/simd_block.h"
#endif

namespace frugal {

namespace {

// Independent accumulators per thread: enough to cover the FMA latency (4 cycles) on both FMA
// pipes, so the loop is bound by throughput alone.
constexpr int kChains = 12;
// Loop trips between clock reads, and how long each thread keeps going.
constexpr int64_t kTripsPerCheck = 4096;
constexpr double kSeconds = 0.03;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs `pass` (kTripsPerCheck trips over every chain) until kSeconds have passed; trips per second.
template <class Pass>
double trips_per_second(Pass pass) {
  int64_t trips = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  do {
    pass();
    trips += kTripsPerCheck;
  } while ((elapsed = seconds_since(t0)) < kSeconds);
  return static_cast<double>(trips) / elapsed;
}

// Each returns this thread's FLOPs per second; the accumulators' sum goes to `sink` so that the
// loop is not optimised away.
#if defined(__AVX512F__)
constexpr int kLanes = 16;

double sum_chains(const __m512* acc) {
  __m512 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return simd::hsum(sum);
}

double fma_rate(float* sink) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(1.0f + 1e-3f * static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  const double rate = trips_per_second([&] {
    for (int64_t t = 0; t < kTripsPerCheck; ++t)
      for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  });
  *sink = static_cast<float>(sum_chains(acc));
  return rate * kChains * kLanes * 2;  // an FMA is 2 FLOPs per lane
}
#else
constexpr int kLanes = 8;
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

double fma_rate(float* sink) {
  Vec acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = Vec{} + (1.0f + 1e-3f * static_cast<float>(i));
  const Vec a = Vec{} + 0.999999f, b = Vec{} + 1e-7f;
  const double rate = trips_per_second([&] {
    for (int64_t t = 0; t < kTripsPerCheck; ++t)
      for (int i = 0; i < kChains; ++i) acc[i] = acc[i] * a + b;
  });
  float s = 0;
  for (int i = 0; i < kChains; ++i)
    for (int l = 0; l < kLanes; ++l) s += acc[i][l];
  *sink = s;
  return rate * kChains * kLanes * 2;
}
#endif

#if defined(__AVX512BF16__)
double bf16_dot_rate(float* sink) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_setzero_ps();
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(2e-3f));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f));
  const double rate = trips_per_second([&] {
    for (int64_t t = 0; t < kTripsPerCheck; ++t)
      for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  });
  *sink = static_cast<float>(sum_chains(acc));
  // Each fp32 lane takes two bf16 products and adds both: 4 FLOPs per lane per instruction.
  return rate * kChains * 16 * 4;
}
#endif

}  // namespace

PeakFlops measure_peak_flops(PeakKind kind, int threads) {
  PeakFlops out;
  out.threads = threads > 0 ? threads : omp_get_max_threads();
  bool bf16 = false;
#if defined(__AVX512BF16__)
  bf16 = kind == PeakKind::Bf16DotF32;
#endif
  double total = 0;
  float sink = 0;
#pragma omp parallel num_threads(out.threads) reduction(+ : total, sink)
  {
    float s = 0;
#if defined(__AVX512BF16__)
    total += bf16 ? bf16_dot_rate(&s) : fma_rate(&s);
#else
    total += fma_rate(&s);
#endif
    sink += s;
  }
  volatile float keep = sink;  // the result is used, so the loops are not removed
  (void)keep;
  out.flops_per_second = total;
#if defined(__AVX512F__)
  constexpr const char* kFmaBasis = "fp32 FMA (AVX-512)";
#else
  constexpr const char* kFmaBasis = "fp32 FMA (compiler vectors)";
#endif
  out.basis = bf16                             ? "bf16 dot products (AVX512-BF16)"
              : kind == PeakKind::Bf16DotF32 ? "fp32 FMA (this build has no AVX512-BF16)"
                                             : kFmaBasis;
  return out;
}

}  // namespace frugal
