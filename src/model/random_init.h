// Random weights for a Llama config, drawn as Hugging Face's LlamaPreTrainedModel._init_weights
// draws them: the embedding and every linear layer (the output head too, when untied) normal with
// mean 0 and std = initializer_range (0.02), biases 0, RMSNorm weights 1, the padding token's
// embedding row 0. Each value is a pure function of (seed, tensor, element), so the result does not
// depend on how the rows are chunked or threaded, and a model can be generated straight into a
// file, a few rows at a time, without ever being held in memory (a 1B model is 4+ GB in fp32).
// The draws are frugal's own (counter-based), not torch's: same distribution, different numbers.
#pragma once
#include <cstdint>

#include "model/weights.h"

namespace frugal {

struct RandomInit {
  uint64_t seed = 0;
  float std = 0.02f;          // initializer_range
  int64_t padding_row = -1;   // token embedding row left at 0 (pad_token_id), -1 for none
};

// Rows [first_row, first_row + n_rows) of the weight `slot` (its role, layer and shape; its data
// pointer is not used) into `out` [n_rows, slot.cols].
void fill_random_weight(const WeightSlot& slot, const RandomInit& init, int64_t first_row, int64_t n_rows, float* out);

// Every weight of `weights` (allocated for `config`) filled as above.
void randomize_weights(const LlamaConfig& config, LlamaWeights& weights, const RandomInit& init);

}  // namespace frugal
