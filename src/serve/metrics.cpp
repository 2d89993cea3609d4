#include "serve/metrics.h"

#include <cstdio>

namespace frugal {

void ServeMetrics::request_done(const std::string& route, int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{route, status}];
}

void ServeMetrics::tokens(int64_t prompt, int64_t generated) {
  std::lock_guard<std::mutex> lock(mutex_);
  prompt_tokens_ += prompt;
  generated_tokens_ += generated;
}

void ServeMetrics::generation_started() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++running_;
}

void ServeMetrics::generation_finished(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  --running_;
  ++generations_;
  generation_seconds_ += seconds;
}

std::string ServeMetrics::prometheus_text() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  out += "# HELP frugal_requests_total HTTP requests answered, by route and status.\n";
  out += "# TYPE frugal_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    out += "frugal_requests_total{route=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"} " +
           std::to_string(n) + "\n";
  out += "# HELP frugal_prompt_tokens_total Prompt tokens of completed generations.\n";
  out += "# TYPE frugal_prompt_tokens_total counter\n";
  out += "frugal_prompt_tokens_total " + std::to_string(prompt_tokens_) + "\n";
  out += "# HELP frugal_generation_tokens_total Tokens generated.\n";
  out += "# TYPE frugal_generation_tokens_total counter\n";
  out += "frugal_generation_tokens_total " + std::to_string(generated_tokens_) + "\n";
  out += "# HELP frugal_requests_running Generations waiting for the engine or running.\n";
  out += "# TYPE frugal_requests_running gauge\n";
  out += "frugal_requests_running " + std::to_string(running_) + "\n";
  char seconds[64];
  std::snprintf(seconds, sizeof seconds, "%.6f", generation_seconds_);
  out += "# HELP frugal_generation_seconds Time from a generation's start to its end (waiting included).\n";
  out += "# TYPE frugal_generation_seconds summary\n";
  out += std::string("frugal_generation_seconds_sum ") + seconds + "\n";
  out += "frugal_generation_seconds_count " + std::to_string(generations_) + "\n";
  return out;
}

}  // namespace frugal
