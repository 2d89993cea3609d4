// Everything `frugal plan` shows, computed once, and its two renderings: a table for people and
// JSON for scripts (the same fields).
#pragma once
#include <string>

#include "plan/compute_model.h"
#include "plan/decision_tree.h"
#include "plan/memory_model.h"

namespace frugal {

struct PlanReport {
  PlanInputs inputs;
  ComputeInputs compute_inputs;
  double available_bytes = 0;
  MemoryBreakdown memory;
  ComputeEstimate compute;
  Decision decision;
  int64_t largest_micro_batch = 0;  // with the inputs' settings
  int64_t largest_seq_len = 0;
  const ModelShape* largest_preset = nullptr;
};

PlanReport make_plan_report(const PlanInputs& inputs, const ComputeInputs& compute, double available_bytes);
std::string plan_report_text(const PlanReport& report);
std::string plan_report_json(const PlanReport& report);

std::string duration_str(double seconds);  // "3 h 12 min", "45 s"

}  // namespace frugal
