#include "kernels/int_dot.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define FRUGAL_INT_DOT_VNNI 1
#include <immintrin.h>

#include "quant/int_dot_chunk.h"
#include "quant/simd_block.h"
#endif

namespace frugal {

namespace {

void check_shapes(const IntDotMatrix& m, const QuantizedActivation& x) {
  if (x.padded_cols != m.padded_cols)
    fail("integer dot product: an activation of " + std::to_string(x.cols) + " values for rows of " +
         std::to_string(m.cols));
}

// Rows per chunk a thread takes at a time: small enough that two threads share a matrix evenly when
// one of them runs slower (a busy core), large enough that taking a chunk costs nothing.
int64_t rows_per_chunk(int64_t rows, int threads) {
  const int64_t target = rows / (8 * std::max(threads, 1));
  return std::max<int64_t>(16, (target + 3) / 4 * 4);
}

#if FRUGAL_INT_DOT_VNNI

// The maskz_ forms with an all-ones mask are the plain instructions; GCC 12 warns
// (-Wmaybe-uninitialized, a false positive) on the unmasked ones, which start from _mm512_undefined_*().
constexpr __mmask16 kAll = 0xFFFF;



// The scales of one chunk's groups, each spread over the lanes holding its products: a lane of
// vpdpbusd sums 4 neighbouring values, so a group of 32 covers 8 lanes and a group of 16 covers 4.
template <int G>
inline __m512 lane_scales(const float* s) {
  if constexpr (G == 32) {
    const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m128 two = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(s)));
    return _mm512_maskz_permutexvar_ps(kAll, idx, _mm512_zextps128_ps512(two));
  } else {
    const __m512i idx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    return _mm512_maskz_permutexvar_ps(kAll, idx, _mm512_zextps128_ps512(_mm_loadu_ps(s)));
  }
}

// Lane sums of one chunk in steps of d / 256: (u . q) << 8 + u . q_res, in int32 (at most
// 4 * 255 * 127 * 257, far inside its range).
inline __m512i chunk_sum(__m512i u, __m512i q, __m512i q_res) {
  const __m512i high = _mm512_maskz_slli_epi32(kAll, _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, q), kResidualShift);
  return _mm512_dpbusd_epi32(high, u, q_res);
}

inline float dot_f32(const float* a, const float* b, int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
  if (i < n) {
    const __mmask16 k = static_cast<__mmask16>((1u << (n - i)) - 1u);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, a + i), _mm512_maskz_loadu_ps(k, b + i), acc);
  }
  return simd::hsum(acc);
}

// The offsets' part of row r: sum_g offset[g] d_x(g) sum q, or -zero sum_g scale[g] d_x(g) sum q.
template <int G>
inline float offset_part(const IntDotMatrix& m, int64_t r, const QuantizedActivation& x) {
  const float* sums = G == 32 ? x.sum32.data() : x.sum16.data();
  const int64_t g = m.groups();
  if (m.symmetric()) return -static_cast<float>(m.zero) * dot_f32(&m.scale[r * g], sums, g);
  return dot_f32(&m.offset[r * g], sums, g);
}

// Rows this many blocks ahead are prefetched while a block is multiplied: R rows read side by side
// are R short streams the hardware prefetcher does not pick up before they end (see half_matvec.cpp,
// where the same measure took a large matrix from 4-5 to 21-24 GB/s on one core).
constexpr int64_t kPrefetchBlocks = 2;

inline void prefetch_bytes(const void* p, int64_t bytes) {
  for (int64_t b = 0; b < bytes; b += 64) _mm_prefetch(static_cast<const char*>(p) + b, _MM_HINT_T0);
}

// R rows from row r: they share each activation load, and their R accumulators hide the FMA latency.
template <CodePlane P, int G, int R>
inline void row_block(float* y, const IntDotMatrix& m, const QuantizedActivation& x, int64_t r) {
  constexpr int64_t kGroupsPerChunk = 64 / G;
  const int64_t cb = m.chunk_bytes(), rb = m.row_code_bytes(), gs = m.groups();
  const uint8_t* codes = m.row_codes(r);
  const float* scales = &m.scale[r * gs];
  const int64_t ahead = std::min(r + kPrefetchBlocks * R, m.rows - R);  // first of R rows to prefetch
  const uint8_t* codes_ahead = m.row_codes(ahead);
  prefetch_bytes(&m.scale[ahead * gs], R * gs * static_cast<int64_t>(sizeof(float)));
  if (!m.symmetric()) prefetch_bytes(&m.offset[ahead * gs], R * gs * static_cast<int64_t>(sizeof(float)));
  __m512 acc[R];
  for (int i = 0; i < R; ++i) acc[i] = _mm512_setzero_ps();
  for (int64_t c = 0; c < m.chunks(); ++c) {
    const __m512i q = _mm512_loadu_si512(x.q.data() + 64 * c), q_res = _mm512_loadu_si512(x.q_res.data() + 64 * c);
    const __m512 d = _mm512_loadu_ps(x.lane_scale.data() + 16 * c);
    for (int i = 0; i < R; ++i) {
      prefetch_bytes(codes_ahead + i * rb + c * cb, cb);
      const __m512i u = simd::int_dot_chunk_codes<P>(codes + i * rb + c * cb);
      const __m512 scale = _mm512_mul_ps(lane_scales<G>(scales + i * gs + c * kGroupsPerChunk), d);
      acc[i] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(kAll, chunk_sum(u, q, q_res)), scale, acc[i]);
    }
  }
  for (int i = 0; i < R; ++i) y[r + i] = simd::hsum(acc[i]) + offset_part<G>(m, r + i, x);
}

template <CodePlane P, int G>
void rows_vnni(float* y, const IntDotMatrix& m, const QuantizedActivation& x, int64_t r0, int64_t r1) {
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) row_block<P, G, 4>(y, m, x, r);
  for (; r < r1; ++r) row_block<P, G, 1>(y, m, x, r);
}

using RowsFn = void (*)(float*, const IntDotMatrix&, const QuantizedActivation&, int64_t, int64_t);

RowsFn rows_fn(const IntDotMatrix& m) {
  if (m.group == 16) {
    if (m.plane == CodePlane::Byte) return rows_vnni<CodePlane::Byte, 16>;
    fail("integer dot product: groups of 16 come only with byte codes");
  }
  switch (m.plane) {
    case CodePlane::Nibble: return rows_vnni<CodePlane::Nibble, 32>;
    case CodePlane::Nibble5: return rows_vnni<CodePlane::Nibble5, 32>;
    case CodePlane::Byte: return rows_vnni<CodePlane::Byte, 32>;
  }
  return nullptr;
}

#endif  // FRUGAL_INT_DOT_VNNI

void rows_ref(float* y, const IntDotMatrix& m, const QuantizedActivation& x, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) y[r] = static_cast<float>(int_dot_row_ref(m, r, x));
}

}  // namespace

void quantize_activation(const float* x, int64_t cols, QuantizedActivation& out) {
#if FRUGAL_INT_DOT_VNNI
  if (cols % 32 != 0) return quantize_activation_ref(x, cols, out);
  reset_activation(out, cols);  // the padding past cols stays zero
  const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
  for (int64_t b = 0; b < cols / 32; ++b) {
    int8_t* q = &out.q[static_cast<size_t>(32 * b)];
    int8_t* q_res = &out.q_res[static_cast<size_t>(32 * b)];
    const float d = simd::block_absmax(x + 32 * b, 32) / 127.0f;  // the reference's running maximum, NaN ignored alike
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m512 vd = _mm512_set1_ps(d), vid = _mm512_set1_ps(id), vid_res = _mm512_set1_ps(id * (1 << kResidualShift));
    int sums[2], res_sums[2];
    for (int h = 0; h < 2; ++h) {
      const __m512 v = _mm512_loadu_ps(x + 32 * b + 16 * h);
      // vcvtps2dq rounds to nearest, ties to even (the default MXCSR mode), as nearbyint does.
      const __m512i c = _mm512_maskz_cvtps_epi32(kAll, _mm512_mul_ps(v, vid));
      const __m512 cf = _mm512_maskz_cvtepi32_ps(kAll, c);
      const __m512 residual = _mm512_fnmadd_ps(cf, vd, v);  // x - q d, as the reference's fma
      const __m512 r = _mm512_maskz_roundscale_ps(kAll, _mm512_mul_ps(residual, vid_res), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __m512i cr = _mm512_maskz_cvtps_epi32(kAll, _mm512_maskz_min_ps(kAll, _mm512_maskz_max_ps(kAll, r, lo), hi));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16 * h), _mm512_maskz_cvtepi32_epi8(kAll, c));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q_res + 16 * h), _mm512_maskz_cvtepi32_epi8(kAll, cr));
      // Sums of 16 codes of magnitude <= 127: exact in fp32 whatever the order.
      sums[h] = static_cast<int>(simd::hsum(cf));
      res_sums[h] = static_cast<int>(simd::hsum(_mm512_maskz_cvtepi32_ps(kAll, cr)));
    }
    out.d[b] = d;
    out.sum16[2 * b] = activation_sum(d, sums[0], res_sums[0]);
    out.sum16[2 * b + 1] = activation_sum(d, sums[1], res_sums[1]);
    out.sum32[b] = activation_sum(d, sums[0] + sums[1], res_sums[0] + res_sums[1]);
    std::fill_n(&out.lane_scale[static_cast<size_t>((b / 2) * 16 + (b % 2) * 8)], 8, d * kResidualStep);
  }
#else
  quantize_activation_ref(x, cols, out);
#endif
}

void int_dot_matvec_ref(float* y, const IntDotMatrix& m, const QuantizedActivation& x) {
  check_shapes(m, x);
  rows_ref(y, m, x, 0, m.rows);
}

void int_dot_matvec(float* y, const IntDotMatrix& m, const QuantizedActivation& x) {
  check_shapes(m, x);
#if FRUGAL_INT_DOT_VNNI
  const RowsFn fn = rows_fn(m);
#else
  const auto fn = rows_ref;
#endif
  // Below this much work a parallel region costs more than it saves.
  if (m.rows * m.padded_cols < (1 << 17) || omp_get_max_threads() == 1) return fn(y, m, x, 0, m.rows);
  const int64_t chunk = rows_per_chunk(m.rows, omp_get_max_threads());
  const int64_t n_chunks = (m.rows + chunk - 1) / chunk;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t k = 0; k < n_chunks; ++k) fn(y, m, x, k * chunk, std::min(m.rows, (k + 1) * chunk));
}

const char* int_dot_isa() {
#if FRUGAL_INT_DOT_VNNI
  return "avx512-vnni";
#else
  return "scalar";
#endif
}

bool prepare_int_dot(Matrix& w) {
  if (!w.packed) return false;
  if (w.packed->int_dot() || w.packed->half_rows()) return true;
  std::shared_ptr<const PackedMatrix> repacked = w.packed->for_int_dot();
  if (!repacked) return false;
  w.packed = std::move(repacked);
  return true;
}

}  // namespace frugal
