// What a training run reports while it runs: machine-readable metrics (one JSON object per line in
// metrics.jsonl) and, for people, a progress display: one redrawn line with a bar on a terminal,
// plain log lines otherwise (CI logs, redirected output).
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace frugal {

// One point of a loss curve (train loss per optimizer step, eval loss where evaluated).
struct LossPoint {
  int64_t step = 0;
  double loss = 0;
};

// The training loss a run reports, in the progress line and as metrics.jsonl's "loss": the mean
// cross-entropy per target token over every step since the previous logged step (the logging
// interval, `logging_steps`), as transformers' Trainer logs "loss" over the interval; weighted here
// by each step's targets, so the same tokens give the same number however they were split into
// steps. A step's own loss (its targets only) is reported separately, as "step_loss".
class IntervalLoss {
 public:
  void add(double step_loss_sum, int64_t step_targets);  // one optimizer step, summed over all ranks
  double mean() const;  // 0 when the interval has no targets (as a step without targets reports)
  void reset();         // after the step that logged it
  int64_t targets() const { return targets_; }

 private:
  double loss_sum_ = 0;
  int64_t targets_ = 0;
};

// One log event. Absent optionals are left out of the JSON line (an eval-only event has no loss).
struct MetricsRecord {
  int64_t step = 0;                     // optimizer steps completed
  double epoch = 0;                     // epochs completed, fractional
  std::optional<double> loss;           // IntervalLoss::mean() at this step
  std::optional<double> step_loss;      // this step's own loss, written as "step_loss"
  std::optional<double> learning_rate;  // written as "lr"
  std::optional<double> grad_norm;      // before clipping
  int64_t tokens = 0;                   // training tokens processed so far
  double tokens_per_second = 0;
  double elapsed_seconds = 0;  // written as "elapsed"
  std::optional<double> flops_per_second;  // model FLOPs per second (compute_model.h), all ranks
  std::optional<double> mfu;               // flops_per_second over the measured peak of all ranks
  std::optional<double> eval_loss;
  bool skipped = false;                 // this step's update was skipped (non-finite loss or gradient norm)
  int64_t skipped_steps = 0;            // skipped so far in the run (written when > 0)
};

// The JSON line for a record, without the newline. Non-finite numbers are written as null.
std::string metrics_json_line(const MetricsRecord& record);

class MetricsWriter {
 public:
  // Starts `path` afresh; with resume_step > 0 keeps its lines for steps <= resume_step instead, so
  // a resumed run continues one consistent log rather than repeating the steps after the checkpoint.
  explicit MetricsWriter(const std::string& path, int64_t resume_step = 0);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;

  void write(const MetricsRecord& record);  // appends one line and flushes it (tail -f works)
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// What one progress update shows.
struct ProgressInfo {
  int64_t step = 0, total_steps = 0;
  double loss = 0;  // IntervalLoss::mean(): the number metrics.jsonl logs as "loss" at a logged step
  double learning_rate = 0;
  double tokens_per_second = 0;
  double elapsed_seconds = 0;
  double eta_seconds = -1;  // < 0: not known yet
  double mfu = -1;          // model FLOPs utilisation, a fraction; < 0: not shown
};

// "42s", "3m05s", "1h02m", "2d03h".
std::string format_duration(double seconds);
// The text of one update: with `terminal`, a bar fitted to `width` columns; otherwise a plain line.
std::string format_progress_line(const ProgressInfo& info, bool terminal, int width);

class ProgressDisplay {
 public:
  // On a terminal (isatty of `out`) every update redraws the line; otherwise a plain line is printed
  // every `plain_every` steps and at the last step. ETA comes from this process's own pace, so a
  // resumed run does not count the steps it did not do.
  ProgressDisplay(int64_t total_steps, std::FILE* out = stderr, int64_t plain_every = 1);
  ProgressDisplay(int64_t total_steps, std::FILE* out, int64_t plain_every, bool terminal);
  ~ProgressDisplay();

  // `elapsed_seconds` is the run's training time (across resumes); the ETA uses wall time here.
  void update(int64_t step, double loss, double learning_rate, double tokens_per_second, double elapsed_seconds,
              double mfu = -1);
  void message(const std::string& line);  // a log line printed above the bar
  void finish();                          // ends the bar's line

 private:
  void draw();
  std::FILE* out_;
  int64_t total_steps_, plain_every_;
  bool terminal_;
  bool drawn_ = false;
  std::optional<int64_t> first_step_;
  std::chrono::steady_clock::time_point first_time_;
  ProgressInfo last_;
};

}  // namespace frugal
