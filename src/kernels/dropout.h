// Inverted dropout with a counter-based mask: element i of a stream is kept or dropped by a pure
// function of (stream, i), so the backward pass regenerates the forward's mask instead of storing
// it. One 64-bit hash gives the 16-bit draws of four consecutive elements.
#pragma once
#include <cstdint>

namespace frugal {

// dst[i] = keep(i) ? src[i] / (1 - p) : 0, or with `accumulate` dst[i] += that.
void dropout_apply(float* dst, const float* src, int64_t n, uint64_t stream, float p, bool accumulate);
// Whether element i is kept (the same decision dropout_apply makes), for tests.
bool dropout_keeps(uint64_t stream, int64_t i, float p);

}  // namespace frugal
