// What the server counts, written as Prometheus' text exposition format for GET /metrics.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace frugal {

class ServeMetrics {
 public:
  void request_done(const std::string& route, int status);  // every answered request
  void tokens(int64_t prompt, int64_t generated);
  void generation_started();
  void generation_finished(double seconds);
  std::string prometheus_text() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, int64_t> requests_;  // (route, status) -> count
  int64_t prompt_tokens_ = 0, generated_tokens_ = 0;
  int64_t running_ = 0;  // generations started and not finished (waiting for the engine or running)
  int64_t generations_ = 0;
  double generation_seconds_ = 0;
};

}  // namespace frugal
