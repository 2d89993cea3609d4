// Causal grouped-query attention over a key/value cache.
#pragma once
#include <cstdint>

namespace frugal {

struct AttentionDims {
  int64_t T;     // new query tokens
  int64_t past;  // tokens already in the cache before these; query t sees keys [0, past + t]
  int64_t H, KVH, D;
  int64_t kv_stride;  // floats between consecutive positions in the cache (KVH * D)
  float scale = 0.0f;   // scores are q.k * scale; 0 means 1/sqrt(D)
  int64_t window = 0;   // sliding window: query at position p sees keys p-window+1 .. p (0: all)
};

// out, q: [T, H*D]; k_cache, v_cache: [past + T, KVH*D] (the new keys already written).
// Query head h reads kv head h / (H / KVH).
// The fast path (AVX-512 dot products and value sums, per-thread scratch kept between calls) and
// the scalar reference it is tested against.
void attention_forward(float* out, const float* q, const float* k_cache, const float* v_cache, const AttentionDims& d);
void attention_forward_ref(float* out, const float* q, const float* k_cache, const float* v_cache, const AttentionDims& d);
// The same over a bf16 cache (keys and values rounded once, when written): half the bytes a decode
// step reads from a long cache, and half its memory.
void attention_forward(float* out, const float* q, const uint16_t* k_cache, const uint16_t* v_cache, const AttentionDims& d);
void attention_forward_ref(float* out, const float* q, const uint16_t* k_cache, const uint16_t* v_cache,
                           const AttentionDims& d);

}  // namespace frugal
