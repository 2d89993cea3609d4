// Incremental inference over one sequence with a key/value cache: feed a prompt in one batched
// call, then one token at a time.
#pragma once
#include <cstdint>
#include <vector>

#include "core/precision.h"
#include "kernels/rope.h"
#include "model/model.h"

namespace frugal {

class InferenceSession {
 public:
  // max_context: cache length in tokens (at most the model's context unless the caller knows better).
  InferenceSession(Model& model, int64_t max_context, Precision precision);

  // Runs `n` tokens at the next positions. Returns logits [V] of the last token, or [n, V] for
  // every token when all_logits (for perplexity). Fails if the cache would overflow.
  const std::vector<float>& forward(const int32_t* tokens, int64_t n, bool all_logits = false);

  int64_t position() const { return position_; }
  int64_t max_context() const { return max_context_; }
  void reset() { position_ = 0; }

 private:
  void run_chunk(const int32_t* tokens, int64_t T, bool all_logits, int64_t out_row);
  void ensure_scratch(int64_t T);

  Model& model_;
  const LlamaConfig& cfg_;
  Precision precision_;
  int64_t max_context_;
  int64_t position_ = 0;
  RopeTable rope_;
  std::vector<std::vector<float>> k_cache_, v_cache_;  // per layer [max_context, KVH*D]
  // Scratch, sized for the largest chunk seen: x, xn [T, C]; q, att [T, H*D]; k, v [T, KVH*D];
  // g, u [T, F]; logits [T, V].
  int64_t scratch_T_ = 0;
  std::vector<float> x_, xn_, q_, att_, k_, v_, g_, u_, tmp_;
  std::vector<int32_t> positions_;
  std::vector<float> lse_;          // [T, H], unused by inference but written by the prompt kernel
  std::vector<int32_t> segments_;   // [T], all 0: one sequence
  std::vector<float> logits_;
};

}  // namespace frugal
