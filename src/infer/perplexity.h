// Perplexity with a sliding window (the transformers recipe): windows of `context` tokens moved
// by `stride`; each window scores only the tokens not scored by the previous one, so every token
// after the first is scored once, with up to context-stride tokens of left context.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "core/precision.h"
#include "model/model.h"

namespace frugal {

struct PerplexityResult {
  int64_t tokens_scored = 0;
  int64_t windows = 0;
  double nll_sum = 0;
  double perplexity() const;
};

PerplexityResult perplexity(Model& model, const std::vector<int32_t>& tokens, int64_t context, int64_t stride,
                            Precision precision, const std::function<void(int64_t done, int64_t total)>& progress = {});

// -log softmax(logits)[target], computed stably in double.
double token_nll(const float* logits, int64_t vocab_size, int32_t target);

}  // namespace frugal
