// Causal grouped-query attention over a key/value cache.
#pragma once
#include <cstdint>

namespace frugal {

struct AttentionDims {
  int64_t T;     // new query tokens
  int64_t past;  // tokens already in the cache before these; query t sees keys [0, past + t]
  int64_t H, KVH, D;
  int64_t kv_stride;  // floats between consecutive positions in the cache (KVH * D)
};

// out, q: [T, H*D]; k_cache, v_cache: [past + T, KVH*D] (the new keys already written).
// Query head h reads kv head h / (H / KVH). Scores are scaled by 1/sqrt(D).
void attention_forward(float* out, const float* q, const float* k_cache, const float* v_cache, const AttentionDims& d);

}  // namespace frugal
