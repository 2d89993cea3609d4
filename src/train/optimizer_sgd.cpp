#include "train/optimizer_sgd.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace frugal {

namespace {

// torch's CPU add with alpha (grad.add(param, alpha=wd), buf.add_(d), param.add_(d, alpha=-lr)) is one
// fused multiply-add per element (GCC builds); the momentum's mul_ rounds before it.
void sgd_span(const SgdSegment& seg, size_t begin, size_t end, float wd, float momentum, float neg_lr) {
  float* p = seg.values;
  const float* g = seg.grads;
  float* buf = seg.momentum_buffer;
  const bool decay = wd != 0.0f, with_momentum = momentum != 0.0f;
#pragma omp simd
  for (size_t i = begin; i < end; ++i) {
    float d = decay ? std::fma(p[i], wd, g[i]) : g[i];
    if (with_momentum) d = buf[i] = std::fma(d, 1.0f, buf[i] * momentum);  // mul_, then add_ (alpha 1)
    p[i] = std::fma(d, neg_lr, p[i]);
  }
}

constexpr size_t kChunk = size_t{1} << 15;

}  // namespace

void sgd_update(std::span<const SgdSegment> segments, const SgdHyper& hyper) {
  const float wd = static_cast<float>(hyper.weight_decay), momentum = static_cast<float>(hyper.momentum);
  const float neg_lr = static_cast<float>(-hyper.learning_rate);
  struct Piece {
    size_t segment, begin, end;
  };
  std::vector<Piece> pieces;
  for (size_t s = 0; s < segments.size(); ++s)
    for (size_t b = 0; b < segments[s].count; b += kChunk)
      pieces.push_back({s, b, std::min(segments[s].count, b + kChunk)});
  const int64_t n = static_cast<int64_t>(pieces.size());
#pragma omp parallel for schedule(static) if (n > 1)
  for (int64_t k = 0; k < n; ++k) {
    const Piece& piece = pieces[static_cast<size_t>(k)];
    sgd_span(segments[piece.segment], piece.begin, piece.end, wd, momentum, neg_lr);
  }
}

}  // namespace frugal
