#include "core/peak_rss.h"

#include <cstdio>
#include <cstring>

namespace frugal {

MemoryUsage process_memory_usage() {
  MemoryUsage usage;
  std::FILE* f = std::fopen("/proc/self/status", "re");
  if (!f) return usage;
  char line[256];
  while (std::fgets(line, sizeof line, f)) {
    long long kib = 0;
    // The kernel reports these in kB (KiB), e.g. "VmHWM:\t  123456 kB".
    if (std::sscanf(line, "VmHWM: %lld kB", &kib) == 1)
      usage.peak_rss_bytes = kib * 1024;
    else if (std::sscanf(line, "VmRSS: %lld kB", &kib) == 1)
      usage.rss_bytes = kib * 1024;
  }
  std::fclose(f);
  return usage;
}

int64_t peak_rss_bytes() {
  return process_memory_usage().peak_rss_bytes;
}
int64_t current_rss_bytes() {
  return process_memory_usage().rss_bytes;
}

std::string format_bytes(int64_t bytes) {
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while ((v >= 1024.0 || v <= -1024.0) && u < 4) v /= 1024.0, ++u;
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  else
    std::snprintf(buf, sizeof buf, v < 10 ? "%.2f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace frugal
