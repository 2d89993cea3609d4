// 8-bit AdamW as bitsandbytes' AdamW8bit computes it (0.50.2, CPU backend): both moments kept in
// blockwise 8-bit form (blocks of 256 along the flat tensor, one fp32 absmax per block, the last block
// possibly short), m against the signed dynamic map, v against the unsigned one. Each step dequantizes a
// block's moments to fp32, updates them and the values exactly as its fp32 Adam formulas do, and
// quantizes the moments again. Tensors smaller than min_8bit_size (4096 values) keep fp32 moments and
// take bitsandbytes' 32-bit Adam, whose arithmetic differs slightly from torch's AdamW (see the .cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "quant/nf4.h"
#include "train/optimizer.h"

namespace frugal {

inline constexpr int64_t kAdam8bitBlocksize = kOptimizer8bitBlocksize;
inline constexpr size_t kAdam8bitMinSize = kOptimizer8bitMinSize;  // bitsandbytes' min_8bit_size

// Whether a tensor of `count` values gets 8-bit moments (else fp32 ones), and its number of blocks.
inline bool adam8bit_quantized(size_t count) { return count >= kAdam8bitMinSize; }
inline size_t adam8bit_blocks(size_t count) {
  return (count + static_cast<size_t>(kAdam8bitBlocksize) - 1) / static_cast<size_t>(kAdam8bitBlocksize);
}

// One tensor: values and gradients, and either the 8-bit state (bitsandbytes' state1 / state2 codes and
// absmax1 / absmax2, all zero at the start) or the fp32 moments of a small tensor.
struct Adam8bitSegment {
  float* values = nullptr;
  const float* grads = nullptr;
  size_t count = 0;
  uint8_t* state1 = nullptr;  // [count]  codes of m (signed dynamic map)
  uint8_t* state2 = nullptr;  // [count]  codes of v (unsigned dynamic map)
  float* absmax1 = nullptr;   // [adam8bit_blocks(count)]
  float* absmax2 = nullptr;   // [adam8bit_blocks(count)]
  float* exp_avg = nullptr;     // [count] when !adam8bit_quantized(count)
  float* exp_avg_sq = nullptr;  // [count] when !adam8bit_quantized(count)
};

// One update of every segment; `step` is 1-based, as for adamw_update. Threads and the SIMD codecs;
// the result equals adamw8bit_update_ref's bit for bit.
void adamw8bit_update(std::span<const Adam8bitSegment> segments, const AdamWHyper& hyper, int64_t step);
// The same, one block at a time through the scalar reference codecs.
void adamw8bit_update_ref(std::span<const Adam8bitSegment> segments, const AdamWHyper& hyper, int64_t step);

}  // namespace frugal
