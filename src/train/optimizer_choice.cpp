#include "train/optimizer_choice.h"

#include "core/error.h"

namespace frugal {

OptimizerChoice optimizer_choice(const std::string& optim, double momentum, const std::string& paged_dir) {
  OptimizerChoice c;
  c.momentum = momentum;
  c.paged = optim.rfind("paged_", 0) == 0;
  if (c.paged) c.paged_dir = paged_dir.empty() ? "." : paged_dir;
  if (optim == "adamw_torch" || optim == "paged_adamw_32bit")
    c.kind = OptimKind::AdamW;
  else if (optim == "adamw_8bit" || optim == "paged_adamw_8bit")
    c.kind = OptimKind::AdamW8bit;
  else if (optim == "sgd")
    c.kind = OptimKind::Sgd;
  else
    fail("optim", optim, "unknown optimizer (one of: adamw_torch, adamw_8bit, sgd, paged_adamw_32bit, paged_adamw_8bit)");
  if (c.kind != OptimKind::Sgd && momentum != 0.0)
    fail("momentum", std::to_string(momentum), "applies to optim: sgd only (AdamW's is adam_beta1)");
  return c;
}

std::string optim_name(OptimKind kind) { return kOptimNames[static_cast<int>(kind)]; }

Optimizer planner_optimizer(const OptimizerChoice& choice) {
  switch (choice.kind) {
    case OptimKind::AdamW:
      return Optimizer::AdamW;
    case OptimKind::AdamW8bit:
      return Optimizer::AdamW8bit;
    case OptimKind::Sgd:
      return choice.momentum != 0.0 ? Optimizer::SgdMomentum : Optimizer::Sgd;
  }
  return Optimizer::AdamW;
}

}  // namespace frugal
