// Causal grouped-query attention for training: B rows of T tokens, where packed samples in a row
// never attend across their boundary (segments) and padding (segment -1) attends to nothing.
// The forward saves only the log-sum-exp per query; the backward recomputes the probabilities
// (memory-efficient attention: no [B, H, T, T] tensor is ever kept).
#pragma once
#include <cstdint>

namespace frugal {

struct TrainAttentionDims {
  int64_t B, T, H, KVH, D;
};

// q, out: [B*T, H*D]; k, v: [B*T, KVH*D]; segments: [B*T]; lse: [B*T, H].
void attention_train_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                             const int32_t* segments, const TrainAttentionDims& d);

// Overwrites dq, dk, dv (same shapes as q, k, v) from dout and the forward's out and lse.
void attention_train_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                              const float* v, const float* out, const float* lse, const int32_t* segments,
                              const TrainAttentionDims& d);

}  // namespace frugal
