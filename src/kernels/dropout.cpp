#include "kernels/dropout.h"

#include <algorithm>
#include <cmath>

#include "core/counter_rng.h"

namespace frugal {

namespace {
// Elements whose 16-bit draw is below this are dropped: p rounded to a multiple of 2^-16.
uint32_t drop_threshold(float p) { return static_cast<uint32_t>(std::lround(static_cast<double>(p) * 65536.0)); }
inline uint32_t draw16(uint64_t hash, int64_t i) { return static_cast<uint32_t>(hash >> ((i & 3) * 16)) & 0xFFFFu; }
}  // namespace

bool dropout_keeps(uint64_t stream, int64_t i, float p) {
  return draw16(splitmix64(stream ^ splitmix64(static_cast<uint64_t>(i >> 2))), i) >= drop_threshold(p);
}

void dropout_apply(float* dst, const float* src, int64_t n, uint64_t stream, float p, bool accumulate) {
  const uint32_t threshold = drop_threshold(p);
  const float scale = 1.0f / (1.0f - p);
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for if (n > 65536)
  for (int64_t b = 0; b < blocks; ++b) {
    const uint64_t hash = splitmix64(stream ^ splitmix64(static_cast<uint64_t>(b)));
    for (int64_t i = b * 4; i < std::min<int64_t>(n, b * 4 + 4); ++i) {
      const float v = draw16(hash, i) >= threshold ? src[i] * scale : 0.0f;
      if (accumulate) dst[i] += v;
      else dst[i] = v;
    }
  }
}

}  // namespace frugal
