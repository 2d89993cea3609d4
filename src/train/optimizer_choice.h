// Which optimizer a run uses: TrainConfig's `optim` (spelled as transformers' TrainingArguments.optim)
// and `momentum`, and the planner's name for the same choice.
#pragma once
#include <string>

#include "plan/plan_inputs.h"

namespace frugal {

enum class OptimKind {
  AdamW,      // adamw_torch: torch.optim.AdamW, fp32 moments
  AdamW8bit,  // adamw_8bit: bitsandbytes' AdamW8bit, blockwise 8-bit moments
  Sgd,        // sgd: torch.optim.SGD; a momentum buffer when momentum > 0
};

struct OptimizerChoice {
  OptimKind kind = OptimKind::AdamW;
  double momentum = 0.0;  // SGD only
  // paged_adamw_32bit / paged_adamw_8bit: the state lives in file-backed memory in `paged_dir` (the
  // run's output folder), which the kernel may page out between steps (core/file_backed_allocator.h).
  bool paged = false;
  std::string paged_dir;
};

// The values `optim` accepts: the three kinds in OptimKind's order, then the paged AdamWs.
inline constexpr const char* kOptimNames[] = {"adamw_torch", "adamw_8bit", "sgd", "paged_adamw_32bit",
                                              "paged_adamw_8bit"};
OptimizerChoice optimizer_choice(const std::string& optim, double momentum, const std::string& paged_dir = "");
std::string optim_name(OptimKind kind);  // the unpaged name
// The planner's Optimizer for the choice (adamw, adamw8bit, sgd, sgd-momentum).
Optimizer planner_optimizer(const OptimizerChoice& choice);

}  // namespace frugal
