// Learning-rate schedules with linear warmup, as transformers' get_constant_schedule_with_warmup,
// get_linear_schedule_with_warmup and get_cosine_schedule_with_warmup (num_cycles = 0.5) compute them.
#pragma once
#include <cstdint>
#include <string>

namespace frugal {

enum class LrSchedule { Constant, Linear, Cosine };

// "constant" | "linear" | "cosine" (TrainConfig::lr_scheduler); anything else throws frugal::Error.
LrSchedule parse_lr_schedule(const std::string& name);
const char* lr_schedule_name(LrSchedule schedule);

struct LrScheduleParams {
  LrSchedule schedule = LrSchedule::Cosine;
  double peak_lr = 2e-4;  // TrainConfig::learning_rate
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;  // optimizer steps of the whole run (linear / cosine reach 0 here)
};

// The multiplier of peak_lr for the update that follows `completed_steps` optimizer steps (0 for the
// first update), i.e. transformers' lr_lambda(current_step): with warmup the first update runs at
// lr 0, as transformers' does. Past total_steps linear stays at 0 while cosine, like transformers',
// rises again (the trainer never goes there).
double lr_multiplier(const LrScheduleParams& params, int64_t completed_steps);
double learning_rate_at(const LrScheduleParams& params, int64_t completed_steps);  // peak_lr * multiplier

}  // namespace frugal
