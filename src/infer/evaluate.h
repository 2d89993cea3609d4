// Task evaluation of a (possibly adapted) model on chat or instruction data: the loss on the trained
// tokens, and exact match of the greedy answer against the reference reply, which is what the
// built-in task and most fixed-format tasks are judged by.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/precision.h"
#include "data/dataset.h"
#include "model/model.h"

namespace frugal {

struct EvalOptions {
  int64_t max_new_tokens = 32;
  int64_t limit = 0;            // evaluate only the first N records (0 = all)
  int64_t sequence_len = 1024;  // for the loss
  Precision precision = Precision::F32;
};

struct EvalSample {
  std::string prompt, reference, answer;
  bool correct = false;
};

struct EvalResult {
  int64_t records = 0, correct = 0;
  double loss = 0;             // mean NLL per trained token
  int64_t loss_tokens = 0;
  std::vector<EvalSample> samples;
  double accuracy() const { return records ? static_cast<double>(correct) / static_cast<double>(records) : 0.0; }
};

// Records must be chat (the last message an assistant reply) or instruction records.
EvalResult evaluate_dataset(Model& model, const Dataset& dataset, const EvalOptions& options,
                            const std::function<void(int64_t done, int64_t total)>& progress = {});

}  // namespace frugal
