// Resident memory of this process, for the training summary and the memory planner's checks.
#pragma once
#include <cstdint>
#include <string>

namespace frugal {

struct MemoryUsage {
  int64_t rss_bytes = 0;       // resident now (VmRSS)
  int64_t peak_rss_bytes = 0;  // high-water mark since the process started (VmHWM)
};

// From /proc/self/status; zeros when it cannot be read (not Linux), never an error.
MemoryUsage process_memory_usage();
int64_t peak_rss_bytes();
int64_t current_rss_bytes();

// "812.4 MiB", "2.31 GiB": binary units, as memory is reported by the planner and the summary.
std::string format_bytes(int64_t bytes);

}  // namespace frugal
