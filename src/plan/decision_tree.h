// The fine-tuning decision tree of the lecture: given the memory available (per rank), the ordered
// steps that make a run fit at the least throughput cost.
//  1. Weights, gradients and optimizer state: full fine-tuning -> mixed precision -> (with several
//     ranks: ZeRO-1 -> ZeRO-2 -> ZeRO-3) -> LoRA -> QLoRA, each taken only while the run does not
//     fit even at micro-batch 1 with every activation saving on.
//  2. Activations at micro-batch 1: memory-efficient attention, then gradient checkpointing.
//  3. Batch: grow the micro-batch to what fits, and reach the wanted batch with gradient
//     accumulation. Quantization is never added just to raise the batch size.
// Inference only has the weights to shrink: 16-bit -> int8 -> 4-bit.
#pragma once
#include <string>
#include <vector>

#include "plan/memory_model.h"

namespace frugal {

// Tokens/s after a step relative to before, where it is not a matter of FLOPs alone (estimates):
// bf16 autocast vs fp32 on a CPU with native bf16, PyTorch LoRA on SmolLM2-135M (DESIGN.md:
// 199 -> 335 tok/s); QLoRA's per-matmul dequantization vs 16-bit LoRA (QLoRA paper and
// bitsandbytes reports put it 20-40% slower); ZeRO-3's extra parameter all-gathers (1.5x the
// communication of data parallelism, Rajbhandari et al. 2020), on a network-bound cluster.
constexpr double kMixedPrecisionSpeedup = 1.7;
constexpr double kQloraDequantizationFactor = 0.75;
constexpr double kZero3Factor = 0.9;

struct DecisionStep {
  std::string stage;   // "weights/gradients/optimizer", "activations", "batch", "inference weights"
  std::string action;  // what to change
  double memory_before = 0, memory_after = 0;  // predicted peak bytes
  double throughput_factor = 1;                // tokens/s after / before (estimate)
  std::string throughput_note;
  bool fits_after = false;
};

struct Decision {
  bool fits = false;
  double available_bytes = 0;
  double memory = 0;  // predicted peak of `result`
  PlanInputs result;  // the configuration after every step
  std::vector<DecisionStep> steps;
  std::string verdict;  // one line
};

// `wanted` gives the model, sequence length, wanted batch (micro_batch x grad_accum), ranks, LoRA
// settings, optimizer and profile; the tree starts from full fine-tuning at its precision.
Decision decide(const PlanInputs& wanted, double available_bytes);

// The largest value that fits with everything else as in `inputs` (0 when even 1 does not).
int64_t largest_micro_batch(const PlanInputs& inputs, double available_bytes, int64_t cap = 4096);
// cap 0: the model's context length (or 2^20 when unknown).
int64_t largest_seq_len(const PlanInputs& inputs, double available_bytes, int64_t cap = 0);
// The largest preset that fits with the same settings; nullptr when none does.
const ModelShape* largest_preset_that_fits(const PlanInputs& inputs, double available_bytes);

}  // namespace frugal
