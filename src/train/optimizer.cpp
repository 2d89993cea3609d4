#include "train/optimizer.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace frugal {

namespace {

// Per-step constants, rounded to fp32 exactly where torch turns its Python-float scalars into the
// tensor's dtype; the bias corrections are computed in double, as Python does.
struct AdamWScalars {
  bool apply_decay;
  float decay;      // 1 - lr * wd
  bool lerp_small;  // torch's lerp picks its formula by |weight| < 0.5
  float w1;         // 1 - beta1, the lerp weight of exp_avg towards grad
  float b2, c2;     // beta2 and 1 - beta2
  float bc2_sqrt;   // sqrt(1 - beta2^step)
  float eps;
  float neg_step;  // -lr / (1 - beta1^step)
};

AdamWScalars make_scalars(const AdamWHyper& h, int64_t step) {
  AdamWScalars s{};
  s.apply_decay = h.weight_decay != 0.0;
  s.decay = static_cast<float>(1.0 - h.learning_rate * h.weight_decay);
  const double w1 = 1.0 - h.beta1;
  s.w1 = static_cast<float>(w1);
  s.lerp_small = std::fabs(s.w1) < 0.5f;
  s.b2 = static_cast<float>(h.beta2);
  s.c2 = static_cast<float>(1.0 - h.beta2);
  const double t = static_cast<double>(step);
  const double bias_correction1 = 1.0 - std::pow(h.beta1, t);
  const double bias_correction2 = 1.0 - std::pow(h.beta2, t);
  s.bc2_sqrt = static_cast<float>(std::pow(bias_correction2, 0.5));  // Python's `** 0.5` is pow, not sqrt
  s.eps = static_cast<float>(h.epsilon);
  s.neg_step = static_cast<float>(-(h.learning_rate / bias_correction1));
  return s;
}

// torch's sequence: param.mul_(decay); exp_avg.lerp_(grad, w1); exp_avg_sq.mul_(b2).addcmul_(g, g, c2);
// denom = sqrt(exp_avg_sq) / bc2_sqrt + eps; param.addcdiv_(exp_avg, denom, -step_size).
// torch's vectorised kernels (as released, built by GCC) compute the lerp as one FMA and fuse
// addcmul's multiply-add, so ours do too: with these FMAs explicit and nothing else left for the
// compiler to contract, the scalar and vector paths give identical bits. Checked against torch 2.15:
// exp_avg and exp_avg_sq match bit for bit; values differ by torch's sqrt, which (MKL VML) is
// within 1 ulp but not correctly rounded.
inline void adamw_element(float& p, float g, float& m, float& v, const AdamWScalars& s) {
  if (s.apply_decay) p = p * s.decay;
  const float diff = g - m;
  m = s.lerp_small ? std::fma(s.w1, diff, m) : std::fma(s.w1 - 1.0f, diff, g);
  v = std::fma(s.c2 * g, g, v * s.b2);
  const float denom = std::sqrt(v) / s.bc2_sqrt + s.eps;
  p = p + (s.neg_step * m) / denom;
}

void adamw_span_scalar(const ParamSegment& seg, size_t begin, size_t end, const AdamWScalars& s) {
  for (size_t i = begin; i < end; ++i) adamw_element(seg.values[i], seg.grads[i], seg.m[i], seg.v[i], s);
}

#if defined(__AVX512F__)
constexpr const char* kIsa = "avx512";
void adamw_span_fast(const ParamSegment& seg, size_t begin, size_t end, const AdamWScalars& s) {
  const __m512 decay = _mm512_set1_ps(s.apply_decay ? s.decay : 1.0f);
  const __m512 coeff = _mm512_set1_ps(s.lerp_small ? s.w1 : s.w1 - 1.0f);
  const __m512 b2 = _mm512_set1_ps(s.b2), c2 = _mm512_set1_ps(s.c2);
  const __m512 bc2 = _mm512_set1_ps(s.bc2_sqrt), eps = _mm512_set1_ps(s.eps), neg_step = _mm512_set1_ps(s.neg_step);
  size_t i = begin;
  for (; i + 16 <= end; i += 16) {
    const __m512 g = _mm512_loadu_ps(seg.grads + i);
    __m512 p = _mm512_mul_ps(_mm512_loadu_ps(seg.values + i), decay);  // x * 1.0f is exact when wd = 0
    __m512 m = _mm512_loadu_ps(seg.m + i);
    m = _mm512_fmadd_ps(coeff, _mm512_sub_ps(g, m), s.lerp_small ? m : g);
    const __m512 v = _mm512_fmadd_ps(_mm512_mul_ps(c2, g), g, _mm512_mul_ps(_mm512_loadu_ps(seg.v + i), b2));
    // maskz with all lanes: the same sqrt, without GCC 12's false -Wmaybe-uninitialized on _mm512_sqrt_ps.
    const __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_maskz_sqrt_ps(0xFFFF, v), bc2), eps);
    p = _mm512_add_ps(p, _mm512_div_ps(_mm512_mul_ps(neg_step, m), denom));
    _mm512_storeu_ps(seg.values + i, p);
    _mm512_storeu_ps(seg.m + i, m);
    _mm512_storeu_ps(seg.v + i, v);
  }
  adamw_span_scalar(seg, i, end, s);
}
#elif defined(__AVX2__) && defined(__FMA__)
constexpr const char* kIsa = "avx2";
void adamw_span_fast(const ParamSegment& seg, size_t begin, size_t end, const AdamWScalars& s) {
  const __m256 decay = _mm256_set1_ps(s.apply_decay ? s.decay : 1.0f);
  const __m256 coeff = _mm256_set1_ps(s.lerp_small ? s.w1 : s.w1 - 1.0f);
  const __m256 b2 = _mm256_set1_ps(s.b2), c2 = _mm256_set1_ps(s.c2);
  const __m256 bc2 = _mm256_set1_ps(s.bc2_sqrt), eps = _mm256_set1_ps(s.eps), neg_step = _mm256_set1_ps(s.neg_step);
  size_t i = begin;
  for (; i + 8 <= end; i += 8) {
    const __m256 g = _mm256_loadu_ps(seg.grads + i);
    __m256 p = _mm256_mul_ps(_mm256_loadu_ps(seg.values + i), decay);
    __m256 m = _mm256_loadu_ps(seg.m + i);
    m = _mm256_fmadd_ps(coeff, _mm256_sub_ps(g, m), s.lerp_small ? m : g);
    const __m256 v = _mm256_fmadd_ps(_mm256_mul_ps(c2, g), g, _mm256_mul_ps(_mm256_loadu_ps(seg.v + i), b2));
    const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(v), bc2), eps);
    p = _mm256_add_ps(p, _mm256_div_ps(_mm256_mul_ps(neg_step, m), denom));
    _mm256_storeu_ps(seg.values + i, p);
    _mm256_storeu_ps(seg.m + i, m);
    _mm256_storeu_ps(seg.v + i, v);
  }
  adamw_span_scalar(seg, i, end, s);
}
#else
constexpr const char* kIsa = "scalar";
void adamw_span_fast(const ParamSegment& seg, size_t begin, size_t end, const AdamWScalars& s) {
  adamw_span_scalar(seg, begin, end, s);
}
#endif

// Work is cut into fixed pieces independent of the thread count, so results (the norm's partial
// sums in particular) do not depend on how many threads run them.
constexpr size_t kChunk = size_t{1} << 15;

struct Piece {
  size_t segment, begin, end;
};

template <class Seg>
std::vector<Piece> pieces_of(std::span<const Seg> segments, size_t (*count)(const Seg&)) {
  std::vector<Piece> pieces;
  for (size_t s = 0; s < segments.size(); ++s)
    for (size_t b = 0; b < count(segments[s]); b += kChunk)
      pieces.push_back({s, b, std::min(count(segments[s]), b + kChunk)});
  return pieces;
}

size_t param_count(const ParamSegment& s) {
  return s.count;
}
template <class T>
size_t span_count(const std::span<T>& s) {
  return s.size();
}

// The simd reduction's lane order is fixed at compile time, so the sum is reproducible run to run;
// a large array is memory-bound here, so nothing is gained by hand-written intrinsics.
double sum_of_squares(const float* g, size_t n) {
  double acc = 0.0;
#pragma omp simd reduction(+ : acc)
  for (size_t i = 0; i < n; ++i) acc += static_cast<double>(g[i]) * static_cast<double>(g[i]);
  return acc;
}

}  // namespace

void adamw_update(std::span<const ParamSegment> segments, const AdamWHyper& hyper, int64_t step) {
  const AdamWScalars s = make_scalars(hyper, step);
  const std::vector<Piece> pieces = pieces_of<ParamSegment>(segments, param_count);
  const int64_t n = static_cast<int64_t>(pieces.size());
#pragma omp parallel for schedule(static) if (n > 1)
  for (int64_t k = 0; k < n; ++k) {
    const Piece& p = pieces[static_cast<size_t>(k)];
    adamw_span_fast(segments[p.segment], p.begin, p.end, s);
  }
}

void adamw_update(const ParamSegment& segment, const AdamWHyper& hyper, int64_t step) {
  adamw_update(std::span<const ParamSegment>(&segment, 1), hyper, step);
}

void adamw_update_ref(std::span<const ParamSegment> segments, const AdamWHyper& hyper, int64_t step) {
  const AdamWScalars s = make_scalars(hyper, step);
  for (const ParamSegment& seg : segments) adamw_span_scalar(seg, 0, seg.count, s);
}

const char* adamw_isa() {
  return kIsa;
}

double global_grad_norm(std::span<const std::span<const float>> grads) {
  const std::vector<Piece> pieces = pieces_of<std::span<const float>>(grads, span_count<const float>);
  std::vector<double> partial(pieces.size());
  const int64_t n = static_cast<int64_t>(pieces.size());
#pragma omp parallel for schedule(static) if (n > 1)
  for (int64_t k = 0; k < n; ++k) {
    const Piece& p = pieces[static_cast<size_t>(k)];
    partial[static_cast<size_t>(k)] = sum_of_squares(grads[p.segment].data() + p.begin, p.end - p.begin);
  }
  double total = 0.0;
  for (double x : partial) total += x;  // fixed order: the same bits for any thread count
  return std::sqrt(total);
}

double global_grad_norm(std::span<const float> grads) {
  return global_grad_norm(std::span<const std::span<const float>>(&grads, 1));
}

float clip_coefficient(double norm, double max_norm) {
  if (max_norm <= 0.0 || !std::isfinite(norm)) return 1.0f;
  // torch computes the factor as an fp32 tensor and always multiplies by min(factor, 1).
  const float factor = static_cast<float>(max_norm / (norm + 1e-6));
  return factor < 1.0f ? factor : 1.0f;
}

void scale_grads(std::span<const std::span<float>> grads, float factor) {
  if (factor == 1.0f) return;
  const std::vector<Piece> pieces = pieces_of<std::span<float>>(grads, span_count<float>);
  const int64_t n = static_cast<int64_t>(pieces.size());
#pragma omp parallel for schedule(static) if (n > 1)
  for (int64_t k = 0; k < n; ++k) {
    const Piece& p = pieces[static_cast<size_t>(k)];
    float* g = grads[p.segment].data();
#pragma omp simd
    for (size_t i = p.begin; i < p.end; ++i) g[i] *= factor;
  }
}

double clip_grad_norm(std::span<const std::span<float>> grads, double max_norm) {
  std::vector<std::span<const float>> view(grads.begin(), grads.end());
  const double norm = global_grad_norm(view);
  scale_grads(grads, clip_coefficient(norm, max_norm));
  return norm;
}

double clip_grad_norm(std::span<float> grads, double max_norm) {
  return clip_grad_norm(std::span<const std::span<float>>(&grads, 1), max_norm);
}

}  // namespace frugal
