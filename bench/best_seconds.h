// The micro-benchmarks' timer: the fastest of `repeats` runs, the figure least disturbed by other
// work on a shared machine.
#pragma once
#include <algorithm>
#include <chrono>

namespace frugal::bench {

template <typename F>
double best_seconds(int repeats, F&& run) {
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace frugal::bench
