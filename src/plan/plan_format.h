// Small number formats shared by the planner's details and reports.
#pragma once
#include <string>

namespace frugal {

// printf into a std::string (up to 511 characters).
std::string printf_str(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string count_str(double n);      // 6.74B, 39.98M, 512
std::string bits_str(double bits);    // "2 B" for whole bytes, "4.127 bits" otherwise
std::string bytes_str_per(double b);  // "8 B", "2.004 B"
std::string gb_str(double bytes);     // decimal GB (1e9), as the slides: "26.03 GB"; MB below 1 GB

}  // namespace frugal
