#include "infer/perplexity.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "infer/session.h"

namespace frugal {

double PerplexityResult::perplexity() const { return tokens_scored ? std::exp(nll_sum / tokens_scored) : 0.0; }

double token_nll(const float* logits, int64_t V, int32_t target) {
  float max_logit = logits[0];
  for (int64_t i = 1; i < V; ++i) max_logit = std::max(max_logit, logits[i]);
  // fp32 exponentials, summed in double: the long sum is where precision matters.
  double sum = 0;
  for (int64_t i = 0; i < V; ++i) sum += std::exp(logits[i] - max_logit);
  return std::log(sum) + static_cast<double>(max_logit) - logits[target];
}

PerplexityResult perplexity(Model& model, const std::vector<int32_t>& tokens, int64_t context, int64_t stride,
                            Precision precision, const std::function<void(int64_t, int64_t)>& progress) {
  if (context < 2) fail("perplexity: --ctx must be at least 2");
  if (stride < 1 || stride > context) fail("perplexity: --stride must be between 1 and --ctx");
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n < 2) fail("perplexity: the text has fewer than 2 tokens");
  const int64_t V = model.config.vocab_size;
  InferenceSession session(model, context, precision);
  PerplexityResult result;
  int64_t scored_until = 0;  // tokens [0, scored_until) have been scored (token 0 never is)
  for (int64_t begin = 0; begin < n; begin += stride) {
    const int64_t end = std::min(begin + context, n);
    session.reset();
    const std::vector<float>& logits = session.forward(tokens.data() + begin, end - begin, true);
    // Row i predicts token begin + i + 1; score those not scored yet.
    const int64_t first = std::max(scored_until, begin + 1);
    double window_nll = 0;
#pragma omp parallel for reduction(+ : window_nll)
    for (int64_t target = first; target < end; ++target)
      window_nll += token_nll(&logits[static_cast<size_t>(target - begin - 1) * V], V, tokens[target]);
    result.nll_sum += window_nll;
    result.tokens_scored += end - first;
    scored_until = end;
    ++result.windows;
    if (progress) progress(end, n);
    if (end == n) break;
  }
  return result;
}

}  // namespace frugal
