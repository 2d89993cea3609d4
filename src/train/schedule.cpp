#include "train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace frugal {

LrSchedule parse_lr_schedule(const std::string& name) {
  if (name == "constant") return LrSchedule::Constant;
  if (name == "linear") return LrSchedule::Linear;
  if (name == "cosine") return LrSchedule::Cosine;
  fail("lr_scheduler", name, "unknown schedule (expected constant, linear or cosine)");
}

const char* lr_schedule_name(LrSchedule schedule) {
  switch (schedule) {
    case LrSchedule::Constant:
      return "constant";
    case LrSchedule::Linear:
      return "linear";
    case LrSchedule::Cosine:
      return "cosine";
  }
  return "?";
}

// Every expression follows transformers' lambdas operation for operation (Python floats are
// doubles), so the rates match bit for bit, not just closely.
double lr_multiplier(const LrScheduleParams& p, int64_t step) {
  const double warmup = static_cast<double>(p.warmup_steps);
  if (step < p.warmup_steps) return static_cast<double>(step) / std::max(1.0, warmup);
  if (p.schedule == LrSchedule::Constant) return 1.0;
  const double span = static_cast<double>(std::max<int64_t>(1, p.total_steps - p.warmup_steps));
  if (p.schedule == LrSchedule::Linear) return std::max(0.0, static_cast<double>(p.total_steps - step) / span);
  const double progress = static_cast<double>(step - p.warmup_steps) / span;
  constexpr double num_cycles = 0.5;
  return std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * num_cycles * 2.0 * progress)));
}

double learning_rate_at(const LrScheduleParams& params, int64_t completed_steps) {
  return params.peak_lr * lr_multiplier(params, completed_steps);
}

}  // namespace frugal
