#include "train/metrics.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "train/checkpoint.h"

namespace frugal {

namespace {

nlohmann::ordered_json number(double v) {
  if (!std::isfinite(v)) return nullptr;  // JSON has no NaN / inf; null keeps the line parseable
  return v;
}

std::string fixed(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

int terminal_width(std::FILE* out) {
  winsize ws{};
  if (::ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 100;
}

}  // namespace

void IntervalLoss::add(double step_loss_sum, int64_t step_targets) {
  loss_sum_ += step_loss_sum;
  targets_ += step_targets;
}

double IntervalLoss::mean() const { return targets_ > 0 ? loss_sum_ / static_cast<double>(targets_) : 0.0; }

void IntervalLoss::reset() {
  loss_sum_ = 0;
  targets_ = 0;
}

std::string metrics_json_line(const MetricsRecord& r) {
  nlohmann::ordered_json j;  // ordered: the fields read in the same order on every line
  j["step"] = r.step;
  j["epoch"] = number(r.epoch);
  if (r.loss) j["loss"] = number(*r.loss);
  if (r.step_loss) j["step_loss"] = number(*r.step_loss);
  if (r.learning_rate) j["lr"] = number(*r.learning_rate);
  if (r.grad_norm) j["grad_norm"] = number(*r.grad_norm);
  j["tokens"] = r.tokens;
  j["tokens_per_second"] = number(r.tokens_per_second);
  j["elapsed"] = number(r.elapsed_seconds);
  if (r.flops_per_second) j["flops_per_second"] = number(*r.flops_per_second);
  if (r.mfu) j["mfu"] = number(*r.mfu);
  if (r.eval_loss) j["eval_loss"] = number(*r.eval_loss);
  if (r.skipped) j["skipped"] = true;
  if (r.skipped_steps > 0) j["skipped_steps"] = r.skipped_steps;
  return j.dump();
}

MetricsWriter::MetricsWriter(const std::string& path, int64_t resume_step) : path_(path) {
  std::string kept;
  if (resume_step > 0) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      // A line that does not parse (cut short by a crash) or lies past the checkpoint is dropped.
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded() && j.is_object() && j.contains("step") && j["step"].is_number_integer() &&
          j["step"].get<int64_t>() <= resume_step)
        kept += line + "\n";
    }
  }
  // Replaced in one step, so a crash here cannot lose the history a resume depends on.
  write_file_atomically(path, kept);
  file_ = std::fopen(path.c_str(), "a");
  if (!file_) fail(path, "", std::string("cannot open the metrics file: ") + std::strerror(errno));
}

MetricsWriter::~MetricsWriter() {
  if (file_) std::fclose(file_);
}

void MetricsWriter::write(const MetricsRecord& record) {
  const std::string line = metrics_json_line(record);
  if (std::fprintf(file_, "%s\n", line.c_str()) < 0 || std::fflush(file_) != 0)
    fail(path_, "", std::string("cannot write metrics: ") + std::strerror(errno));
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  else if (s < 86400)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  else
    std::snprintf(buf, sizeof buf, "%lldd%02lldh", static_cast<long long>(s / 86400),
                  static_cast<long long>(s % 86400 / 3600));
  return buf;
}

std::string format_progress_line(const ProgressInfo& p, bool terminal, int width) {
  const std::string steps = std::to_string(p.step) + "/" + std::to_string(p.total_steps);
  const std::string loss = std::isfinite(p.loss) ? fixed("%.4f", p.loss) : "nan";
  const std::string lr = fixed("%.2e", p.learning_rate);
  const std::string rate = fixed("%.0f", p.tokens_per_second);
  const std::string eta = p.eta_seconds < 0 ? "?" : format_duration(p.eta_seconds);
  const std::string mfu = p.mfu < 0 ? "" : " MFU " + fixed("%.1f", p.mfu * 100) + "%";
  const double fraction = p.total_steps > 0 ? std::clamp(double(p.step) / double(p.total_steps), 0.0, 1.0) : 0.0;
  if (!terminal)
    return "step " + steps + " (" + fixed("%.0f", fraction * 100) + "%) loss " + loss + " lr " + lr + " tokens/s " +
           rate + mfu + " elapsed " + format_duration(p.elapsed_seconds) + " eta " + eta;
  const std::string head = "step " + steps + " ";
  std::string tail = " ";  // built in steps: GCC 12 warns (-Wrestrict, falsely) on "literal" + temporary
  tail += fixed("%3.0f", fraction * 100) + "% loss " + loss + " lr " + lr + " " + rate + " tok/s" + mfu + " ETA " + eta;
  // The bar takes what the numbers leave of the line, so it never wraps (which would break \r redraws).
  const int room = width - 1 - static_cast<int>(head.size() + tail.size()) - 2;
  if (room < 5) return (head + tail.substr(1)).substr(0, static_cast<size_t>(std::max(0, width - 1)));
  const int bar = std::min(room, 40);
  const int filled = static_cast<int>(fraction * bar + 0.5);
  return head + "[" + std::string(static_cast<size_t>(filled), '#') +
         std::string(static_cast<size_t>(bar - filled), '-') + "]" + tail;
}

ProgressDisplay::ProgressDisplay(int64_t total_steps, std::FILE* out, int64_t plain_every)
    : ProgressDisplay(total_steps, out, plain_every, ::isatty(fileno(out)) == 1) {}

ProgressDisplay::ProgressDisplay(int64_t total_steps, std::FILE* out, int64_t plain_every, bool terminal)
    : out_(out), total_steps_(total_steps), plain_every_(std::max<int64_t>(1, plain_every)), terminal_(terminal) {
  last_.total_steps = total_steps;
}

ProgressDisplay::~ProgressDisplay() {
  finish();
}

void ProgressDisplay::update(int64_t step, double loss, double learning_rate, double tokens_per_second,
                             double elapsed_seconds, double mfu) {
  const auto now = std::chrono::steady_clock::now();
  if (!first_step_) {
    // The pace is measured from the first update on, so the first step (often slower: page faults,
    // allocations) counts only as the start line.
    first_step_ = step;
    first_time_ = now;
  }
  last_ = ProgressInfo{step, total_steps_, loss, learning_rate, tokens_per_second, elapsed_seconds, -1, mfu};
  const int64_t done = step - *first_step_;
  if (done > 0) {
    const double per_step = std::chrono::duration<double>(now - first_time_).count() / double(done);
    last_.eta_seconds = per_step * double(std::max<int64_t>(0, total_steps_ - step));
  }
  if (terminal_ || step % plain_every_ == 0 || step == total_steps_) draw();
}

void ProgressDisplay::draw() {
  if (terminal_) {
    std::fprintf(out_, "\r%s\x1b[K", format_progress_line(last_, true, terminal_width(out_)).c_str());
    drawn_ = true;
  } else {
    std::fprintf(out_, "%s\n", format_progress_line(last_, false, 0).c_str());
  }
  std::fflush(out_);
}

void ProgressDisplay::message(const std::string& line) {
  if (terminal_ && drawn_) {
    std::fprintf(out_, "\r\x1b[K%s\n", line.c_str());
    draw();
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
    std::fflush(out_);
  }
}

void ProgressDisplay::finish() {
  if (terminal_ && drawn_) {
    std::fprintf(out_, "\n");
    std::fflush(out_);
  }
  drawn_ = false;
}

}  // namespace frugal
