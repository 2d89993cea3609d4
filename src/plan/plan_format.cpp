#include <cstdarg>
#include <cstdio>
#include "plan/plan_format.h"

#include <cmath>
#include <cstdio>

namespace frugal {

std::string printf_str(const char* format, ...) {
  char buf[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  return buf;
}

std::string count_str(double n) {
  if (n >= 1e9) return printf_str("%.2fB", n / 1e9);
  if (n >= 1e6) return printf_str("%.2fM", n / 1e6);
  if (n >= 1e4) return printf_str("%.1fk", n / 1e3);
  return printf_str("%.0f", n);
}

std::string bits_str(double bits) {
  if (std::fmod(bits, 8.0) == 0.0) return printf_str("%g B", bits / 8.0);
  return printf_str("%.4g bits", bits);
}

std::string bytes_str_per(double b) {
  return printf_str("%.4g B", b);
}

std::string gb_str(double bytes) {
  if (bytes >= 1e9) return printf_str("%.2f GB", bytes / 1e9);
  if (bytes >= 1e6) return printf_str("%.1f MB", bytes / 1e6);
  return printf_str("%.1f kB", bytes / 1e3);
}

}  // namespace frugal
