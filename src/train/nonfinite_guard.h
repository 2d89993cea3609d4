// What a run does when a step's loss or gradient norm is NaN or inf: the update is skipped (so the
// weights and AdamW moments stay as they were), the step is counted and logged with the dataset
// lines of its batch, and after `max_nonfinite_steps` such steps in a row the run stops with one line
// naming the likely cause. One bad batch (an overflow on odd data) then costs one step; a diverging
// run (learning rate too high) stops instead of burning hours on skipped steps.
//
// The loss and the gradient norm are reduced over every rank before they get here, so every rank of
// a data-parallel run makes the same decisions.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace frugal {

class NonFiniteGuard {
 public:
  // `skipped_before`: steps skipped before the checkpoint this run resumed from (0 for a fresh run);
  // `resumed_step`: the step it resumed at (0 for a fresh run).
  NonFiniteGuard(int64_t max_in_a_row, int64_t skipped_before, int64_t resumed_step);

  static bool finite(double loss, double grad_norm);

  void finite_step(int64_t step);  // the step's update was applied: any run of bad steps has ended
  // Counts a skipped step and returns its log line. `lines` are the dataset lines of its batch.
  std::string skip(int64_t step, double loss, double grad_norm, const std::vector<int64_t>& lines);
  bool must_stop() const { return in_a_row_ >= max_in_a_row_; }
  // While steps are non-finite no checkpoint is written: the weights just gave a NaN or inf loss.
  bool in_bad_run() const { return in_a_row_ > 0; }
  // A checkpoint holding the weights after `step`'s update (or the one a run resumed from).
  void checkpoint_saved(int64_t step, const std::string& dir);

  int64_t skipped_total() const { return skipped_total_; }

  // The one-line reason a run stops at `step`, and the checkpoint to go back to: the newest whose
  // weights then gave a finite loss (a checkpoint is only known good once the step after it was).
  // `weights_finite`: whether the trained values and moments are still finite (if not, no later step
  // can recover, so the run stops at once); `learning_rate`: the step's.
  std::string stop_reason(int64_t step, bool weights_finite, double learning_rate, const std::string& dataset) const;

 private:
  int64_t max_in_a_row_;
  int64_t skipped_total_;
  int64_t in_a_row_ = 0;
  int64_t last_updated_step_;  // the last step whose update was applied (0: none since the start)
  int64_t first_bad_step_ = 0, last_bad_step_ = 0;  // of the current run of skipped steps
  std::vector<int64_t> first_bad_lines_;
  std::vector<std::pair<int64_t, std::string>> checkpoints_;  // step, folder; in order
};

// "3, 17, 20" (at most `max_shown`, then "... (12 in all)").
std::string format_line_list(const std::vector<int64_t>& lines, size_t max_shown = 16);

}  // namespace frugal
