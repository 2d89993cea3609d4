#include "train/nonfinite_guard.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace frugal {

namespace {

std::string number(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

}  // namespace

std::string format_line_list(const std::vector<int64_t>& lines, size_t max_shown) {
  std::string out;
  for (size_t i = 0; i < lines.size() && i < max_shown; ++i) out += (i ? ", " : "") + std::to_string(lines[i]);
  if (lines.size() > max_shown) out += ", ... (" + std::to_string(lines.size()) + " in all)";
  return out;
}

NonFiniteGuard::NonFiniteGuard(int64_t max_in_a_row, int64_t skipped_before, int64_t resumed_step)
    : max_in_a_row_(std::max<int64_t>(1, max_in_a_row)),
      skipped_total_(skipped_before),
      // A checkpoint with more steps than skipped ones holds weights that updates have moved.
      last_updated_step_(resumed_step > skipped_before ? resumed_step : 0) {}

bool NonFiniteGuard::finite(double loss, double grad_norm) { return std::isfinite(loss) && std::isfinite(grad_norm); }

void NonFiniteGuard::finite_step(int64_t step) {
  in_a_row_ = 0;
  last_updated_step_ = step;
}

std::string NonFiniteGuard::skip(int64_t step, double loss, double grad_norm, const std::vector<int64_t>& lines) {
  ++skipped_total_;
  if (in_a_row_++ == 0) {
    first_bad_step_ = step;
    first_bad_lines_ = lines;
  }
  last_bad_step_ = step;
  return "step " + std::to_string(step) + ": loss " + number(loss) + ", gradient norm " + number(grad_norm) +
         ": update skipped (" + std::to_string(in_a_row_) + " in a row, " + std::to_string(max_in_a_row_) +
         " stop the run; dataset lines " + format_line_list(lines) + ")";
}

void NonFiniteGuard::checkpoint_saved(int64_t step, const std::string& dir) { checkpoints_.emplace_back(step, dir); }

std::string NonFiniteGuard::stop_reason(int64_t step, bool weights_finite, double learning_rate,
                                        const std::string& dataset) const {
  std::string what = "training stopped at step " + std::to_string(step);
  if (in_a_row_ == 1)
    what += ": its loss or gradient norm is not finite";
  else if (in_a_row_ > 1)
    what += ": " + std::to_string(in_a_row_) + " steps in a row (" + std::to_string(first_bad_step_) + " to " +
            std::to_string(last_bad_step_) + ") had a non-finite loss or gradient norm";
  const std::string rate = "learning_rate " + number(learning_rate);
  const std::string lr = rate + " is likely too high";
  std::string cause;
  if (!weights_finite)
    cause = "the updates made the trained weights or AdamW moments non-finite: " + lr;
  else if (last_updated_step_ == 0)
    cause = "already before any update, so the model or the data give inf/NaN (step " + std::to_string(first_bad_step_) +
            "'s batch: " + dataset + " lines " + format_line_list(first_bad_lines_) + ")";
  else if (in_a_row_ == 1)
    cause = "likely the batch of " + dataset + " lines " + format_line_list(first_bad_lines_) + " (or, if other " +
            "batches fail too, " + rate + " is too high)";
  else
    cause = "the loss was finite up to step " + std::to_string(last_updated_step_) + ", so the updates diverged: " + lr;
  // The weights after step s's update gave a finite loss when step s + 1 was finite.
  std::string good;
  for (const auto& [saved_step, dir] : checkpoints_)
    if (saved_step < last_updated_step_) good = dir;
  std::string back;
  if (!good.empty())
    back = "the last good checkpoint (its weights then gave a finite loss) is " + good;
  else if (checkpoints_.empty())
    back = "no checkpoint was written";
  else
    back = "no checkpoint holds weights known to give a finite loss";
  return what + "; " + cause + "; " + back;
}

}  // namespace frugal
