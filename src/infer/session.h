// Incremental inference over one sequence with a key/value cache: feed a prompt in one batched
// call, then one token at a time.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/precision.h"
#include "kernels/rope.h"
#include "model/block.h"
#include "model/lora.h"
#include "model/model.h"

namespace frugal {

class InferenceSession {
 public:
  // max_context: cache length in tokens (at most the model's context unless the caller knows better).
  // `adapter` (may be null) is applied unmerged to every projection it adapts, the base weights
  // untouched, so one loaded model serves sessions with different adapters; it must outlive the session.
  InferenceSession(Model& model, int64_t max_context, Precision precision, const LoraAdapter* adapter = nullptr);

  // Runs `n` tokens at the next positions. Returns logits [V] of the last token, or [n, V] for
  // every token when all_logits (for perplexity). Fails if the cache would overflow.
  // RoPE scaling that depends on the length (dynamic NTK, LongRoPE) rotates the call's tokens with
  // the frequencies of a sequence that ends at its last token, and cached keys keep the rotation
  // they were stored with; this is what transformers does for each forward over its cache. So a
  // prompt given in one call gets transformers' full-forward logits, and token-by-token decoding
  // past the original context gets transformers' cached-generation logits (which differ from one
  // full forward over the grown sequence, since earlier keys are not re-rotated).
  const std::vector<float>& forward(const int32_t* tokens, int64_t n, bool all_logits = false);

  int64_t position() const { return position_; }
  int64_t max_context() const { return max_context_; }
  void reset() { position_ = 0; }

 private:
  class CacheAttention;  // the block's attention over this session's KV cache (session.cpp)
  void run_chunk(const int32_t* tokens, int64_t T, bool all_logits, int64_t out_row, int64_t seq_len);
  void ensure_scratch(int64_t T);

  Model& model_;
  const LlamaConfig& cfg_;
  Precision precision_;
  const LoraAdapter* adapter_;
  int64_t max_context_;
  int64_t position_ = 0;
  std::unique_ptr<BlockRope> rope_;  // made for the positions and length of the latest call
  // Per layer [max_context, KVH*D], in the compute precision: fp32, or bf16 (half the bytes a decode
  // step reads from a long cache; keys and values rounded once, when written).
  bool bf16_cache_ = false;
  std::vector<std::vector<float>> k_cache_, v_cache_;
  std::vector<std::vector<uint16_t>> k_cache16_, v_cache16_;
  // Scratch, sized for the largest chunk seen: the block's tensors, x and xn [T, C], logits [T, V].
  BlockActivations block_;
  std::vector<float> x_, xn_;
  std::vector<int32_t> positions_;
  std::vector<int32_t> segments_;   // [T], all 0: one sequence (for the prompt kernel)
  std::vector<float> logits_;
};

}  // namespace frugal
