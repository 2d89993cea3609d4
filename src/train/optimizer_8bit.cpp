#include "train/optimizer_8bit.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "quant/nf4.h"

namespace frugal {

namespace {

// Per-step constants, each rounded to fp32 where torch turns a Python float into the tensor's dtype.
struct Adam8bitScalars {
  float b1, c1;     // beta1 and 1 - beta1
  float b2, c2;     // beta2 and 1 - beta2
  bool decay_on;    // bitsandbytes decays only when weight_decay > 0
  float decay;      // 1 - lr * wd
  // 8-bit path: denom = sqrt(v) / correction2 + eps; p += (-lr / correction1) * m / denom.
  float correction2, eps, neg_step;
  // 32-bit path: p += (m / (sqrt(v) + eps * correction2)) * (-lr * correction2 / correction1).
  float eps_scaled, step_size;
};

Adam8bitScalars make_scalars(const AdamWHyper& h, int64_t step) {
  Adam8bitScalars s{};
  s.b1 = static_cast<float>(h.beta1);
  s.c1 = static_cast<float>(1.0 - h.beta1);
  s.b2 = static_cast<float>(h.beta2);
  s.c2 = static_cast<float>(1.0 - h.beta2);
  s.decay_on = h.weight_decay > 0.0;
  s.decay = static_cast<float>(1.0 - h.learning_rate * h.weight_decay);
  const double t = static_cast<double>(step);
  const double correction1 = 1.0 - std::pow(h.beta1, t);
  const double correction2 = std::sqrt(1.0 - std::pow(h.beta2, t));  // Python's math.sqrt
  s.correction2 = static_cast<float>(correction2);
  s.eps = static_cast<float>(h.epsilon);
  s.neg_step = static_cast<float>(-h.learning_rate / correction1);
  s.eps_scaled = static_cast<float>(h.epsilon * correction2);
  s.step_size = static_cast<float>(-h.learning_rate * correction2 / correction1);
  return s;
}

// The moments' updates both paths share: state1.mul_(beta1).add_(grad, alpha=1 - beta1) and
// state2.mul_(beta2).addcmul_(grad, grad, value=1 - beta2). torch's CPU kernels (GCC builds) evaluate
// add-with-alpha and addcmul as one fused multiply-add after the rounded product with beta.
inline void moments(float g, float& m, float& v, const Adam8bitScalars& s) {
  m = std::fma(g, s.c1, m * s.b1);
  v = std::fma(s.c2 * g, g, v * s.b2);
}

// The 8-bit path's element (m and v already dequantized): bitsandbytes' CPU optimizer_update_8bit_blockwise.
inline void element_8bit(float& p, float g, float& m, float& v, const Adam8bitScalars& s) {
  moments(g, m, v, s);
  const float denom = std::sqrt(v) / s.correction2 + s.eps;
  if (s.decay_on) p = p * s.decay;
  p = p + (s.neg_step * m) / denom;  // addcdiv: self + value * t1 / t2
}

// The 32-bit path's element: bitsandbytes' CPU optimizer_update_32bit for "adam".
inline void element_32bit(float& p, float g, float& m, float& v, const Adam8bitScalars& s) {
  moments(g, m, v, s);
  if (s.decay_on) p = p * s.decay;
  const float update = m / (std::sqrt(v) + s.eps_scaled);
  p = std::fma(update, s.step_size, p);  // add_(update, alpha=step_size): one fused multiply-add
}

using Dequantize = void (*)(const uint8_t*, const float*, int64_t, int64_t, const float*, float*);
using Quantize = void (*)(const float*, int64_t, int64_t, const float*, uint8_t*, float*);

// Blocks [first, last) of a quantized segment, through fp32 scratch of (last - first) blocks.
template <bool kSimd>
void blocks_8bit(const Adam8bitSegment& seg, size_t first, size_t last, const Adam8bitScalars& s,
                 Dequantize dequantize, Quantize quantize, std::vector<float>& m, std::vector<float>& v) {
  const size_t bs = static_cast<size_t>(kAdam8bitBlocksize);
  const size_t begin = first * bs, end = std::min(seg.count, last * bs);
  const int64_t n = static_cast<int64_t>(end - begin);
  m.resize(end - begin);
  v.resize(end - begin);
  const float* map1 = dynamic_map_signed().data();
  const float* map2 = dynamic_map_unsigned().data();
  dequantize(seg.state1 + begin, seg.absmax1 + first, n, kAdam8bitBlocksize, map1, m.data());
  dequantize(seg.state2 + begin, seg.absmax2 + first, n, kAdam8bitBlocksize, map2, v.data());
  float* p = seg.values + begin;
  const float* g = seg.grads + begin;
  float* mp = m.data();
  float* vp = v.data();
  if constexpr (kSimd) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) element_8bit(p[i], g[i], mp[i], vp[i], s);
  } else {
    for (int64_t i = 0; i < n; ++i) element_8bit(p[i], g[i], mp[i], vp[i], s);
  }
  quantize(mp, n, kAdam8bitBlocksize, map1, seg.state1 + begin, seg.absmax1 + first);
  quantize(vp, n, kAdam8bitBlocksize, map2, seg.state2 + begin, seg.absmax2 + first);
}

void span_32bit(const Adam8bitSegment& seg, size_t begin, size_t end, const Adam8bitScalars& s) {
  for (size_t i = begin; i < end; ++i) element_32bit(seg.values[i], seg.grads[i], seg.exp_avg[i], seg.exp_avg_sq[i], s);
}

// Work pieces of whole blocks, fixed independently of the thread count.
constexpr size_t kBlocksPerPiece = 64;

struct Piece {
  size_t segment, first, last;  // blocks, or values for an fp32 segment
};

std::vector<Piece> pieces_of(std::span<const Adam8bitSegment> segments) {
  std::vector<Piece> pieces;
  for (size_t i = 0; i < segments.size(); ++i) {
    const size_t count = segments[i].count;
    if (!adam8bit_quantized(count)) {
      if (count > 0) pieces.push_back({i, 0, count});
      continue;
    }
    const size_t blocks = adam8bit_blocks(count);
    for (size_t b = 0; b < blocks; b += kBlocksPerPiece) pieces.push_back({i, b, std::min(blocks, b + kBlocksPerPiece)});
  }
  return pieces;
}

}  // namespace

void adamw8bit_update(std::span<const Adam8bitSegment> segments, const AdamWHyper& hyper, int64_t step) {
  const Adam8bitScalars s = make_scalars(hyper, step);
  const std::vector<Piece> pieces = pieces_of(segments);
  const int64_t n = static_cast<int64_t>(pieces.size());
#pragma omp parallel if (n > 1)
  {
    std::vector<float> m, v;  // one block range's dequantized moments, per thread
#pragma omp for schedule(static)
    for (int64_t k = 0; k < n; ++k) {
      const Piece& piece = pieces[static_cast<size_t>(k)];
      const Adam8bitSegment& seg = segments[piece.segment];
      if (adam8bit_quantized(seg.count))
        blocks_8bit<true>(seg, piece.first, piece.last, s, dequantize_blockwise_8bit, quantize_blockwise_8bit, m, v);
      else
        span_32bit(seg, piece.first, piece.last, s);
    }
  }
}

void adamw8bit_update_ref(std::span<const Adam8bitSegment> segments, const AdamWHyper& hyper, int64_t step) {
  const Adam8bitScalars s = make_scalars(hyper, step);
  std::vector<float> m, v;
  for (const Adam8bitSegment& seg : segments) {
    if (!adam8bit_quantized(seg.count)) {
      span_32bit(seg, 0, seg.count, s);
      continue;
    }
    for (size_t b = 0; b < adam8bit_blocks(seg.count); ++b)
      blocks_8bit<false>(seg, b, b + 1, s, dequantize_blockwise_8bit_ref, quantize_blockwise_8bit_ref, m, v);
  }
}

}  // namespace frugal
