// Causal grouped-query attention for training: B rows of T tokens, where packed samples in a row
// never attend across their boundary (segments) and padding (segment -1) attends to nothing.
// The forward saves only the log-sum-exp per query; the backward recomputes the probabilities
// (memory-efficient attention: no [B, H, T, T] tensor is ever kept). The fast path works one
// (row, kv head, block of 256 queries) at a time: the block's queries of the heads sharing that kv
// head are stacked and every product is a gemm through oneDNN over the keys the block can see,
// with the causal/segment mask applied between the products. Its scratch is linear in T.
#pragma once
#include <cstdint>

namespace frugal {

struct TrainAttentionDims {
  int64_t B, T, H, KVH, D;
  float scale = 0.0f;   // scores are q.k * scale; 0 means 1/sqrt(D)
  int64_t window = 0;   // sliding window: query t sees keys t-window+1 .. t (0: no window)
};

// q, out: [B*T, H*D]; k, v: [B*T, KVH*D]; segments: [B*T]; lse: [B*T, H].
void attention_train_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                             const int32_t* segments, const TrainAttentionDims& d);

// Overwrites dq, dk, dv (same shapes as q, k, v) from dout and the forward's out and lse.
void attention_train_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                              const float* v, const float* out, const float* lse, const int32_t* segments,
                              const TrainAttentionDims& d);

// start[t] = first key position query t of a row may see: the start of its packed segment, or
// t - window + 1 when a sliding window (window > 0) starts later.
void segment_starts(const int32_t* segments, int64_t T, int64_t* start, int64_t window = 0);
float attention_scale(const TrainAttentionDims& d);  // d.scale, or 1/sqrt(D) when it is 0

// Scalar references of the two functions above (one query at a time), for tests.
void attention_train_forward_ref(float* out, float* lse, const float* q, const float* k, const float* v,
                                 const int32_t* segments, const TrainAttentionDims& d);
void attention_train_backward_ref(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                                  const float* v, const float* out, const float* lse, const int32_t* segments,
                                  const TrainAttentionDims& d);

}  // namespace frugal
