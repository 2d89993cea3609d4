// FLOPs of training and inference, and the time they take.
//
// Forward, per token: 2 FLOPs per weight a token is multiplied by (a matmul of m x k by k x n is
// 2mnk), so 2 x (block projections + output head); plus attention's two products with the s
// cached positions, QK^T and PV, 2 x 2 x s x (H*D) per layer (no causal halving, as the lecture
// counts); plus LoRA's two thin matmuls, 2 x r(in + out) per adapted projection.
// Backward: the input gradients cost one forward's matmuls again and the weight gradients another,
// so ~2x forward for full fine-tuning (the familiar 6N per token in total); frozen layers (LoRA,
// QLoRA) skip their weight gradients, so backward is ~1x forward plus the adapters' own gradients.
// Attention's backward is twice its forward. Gradient checkpointing runs the blocks' forward
// once more inside backward.
#pragma once
#include <string>

#include "plan/plan_inputs.h"

namespace frugal {

// Hoffmann et al. 2022 (Chinchilla): compute-optimal pre-training uses ~20 tokens per parameter.
// A reference line for data size, not a target for fine-tuning.
constexpr double kChinchillaTokensPerParameter = 20;

struct FlopsPerToken {
  double forward = 0;
  double backward = 0;
  double recompute = 0;  // gradient checkpointing's second forward of the blocks
  double total() const { return forward + backward + recompute; }
};

// Per trained token (or per generated token with `seq_len` positions in the KV cache, for inference).
FlopsPerToken flops_per_token(const PlanInputs& inputs);

// Model FLOPs of training on `tokens` real (non-padding) tokens laid out in rows of `row_length`
// (the attention span counted for each token): forward and backward as above, without gradient
// checkpointing's recompute. This is PaLM's MFU numerator: the work the model needs, not the extra
// work a memory-saving schedule does.
double model_training_flops(const PlanInputs& inputs, double tokens, int64_t row_length);

struct ComputeInputs {
  double tokens_per_second = 0;  // a measured throughput of one rank; wins over peak x MFU
  double peak_flops = 0;         // one rank's peak FLOP/s
  double mfu = 0.4;              // fraction of the peak reached (applied to all executed FLOPs)
  double dataset_tokens = 0;     // tokens to train on (or to generate); 0 = no time estimate
};

struct ComputeEstimate {
  FlopsPerToken per_token;
  double tokens_per_step = 0;  // micro_batch x seq_len x grad_accum x ranks (training)
  double flops_per_step = 0;
  double chinchilla_tokens = 0;  // 20 x parameters
  double tokens_per_second = 0;  // all ranks together (ideal scaling); 0 = unknown
  double seconds = 0;            // for dataset_tokens; 0 = unknown
  std::string basis;             // "measured throughput", "peak x MFU", or "no throughput given"
};

ComputeEstimate estimate_compute(const PlanInputs& inputs, const ComputeInputs& compute);

}  // namespace frugal
