// Next-token cross-entropy on top of the output head, chunked over rows so the [tokens, vocab]
// logits never exist in full: each chunk's logits are computed, turned into their gradient in
// place, and multiplied back through the head before the next chunk.
#pragma once
#include <cstdint>
#include <vector>

#include "core/precision.h"
#include "quant/matrix.h"

namespace frugal {

struct CrossEntropyResult {
  double loss_sum = 0;   // sum of -log p(target) over rows with a target
  int64_t count = 0;     // rows with a target
};

// hidden: [N, C] final normalized hidden states; targets: [N] (kIgnoreTarget = no loss).
// Writes d_hidden [N, C] = d(loss_sum * loss_scale)/d(hidden) (zero rows where no target).
// When d_head is non-null (full fine-tuning), also accumulates the head's weight gradient [V, C].
CrossEntropyResult cross_entropy_forward_backward(float* d_hidden, float* d_head, const float* hidden,
                                                  const int32_t* targets, int64_t N, const Matrix& head,
                                                  float loss_scale, Precision precision, int64_t chunk_rows = 256);

// The loss alone (evaluation), same chunking.
CrossEntropyResult cross_entropy_forward(const float* hidden, const int32_t* targets, int64_t N, const Matrix& head,
                                         Precision precision, int64_t chunk_rows = 256);

// Softmax cross-entropy of one row of logits, turning the row into its gradient (p - onehot) * scale.
// Returns -log p(target). Reference and fast path share it; it is one pass in double for the sums.
double softmax_xent_row(float* logits, int64_t V, int32_t target, float scale);

}  // namespace frugal
