// Numbers from JSON files into C++ types, their range checked first: nlohmann converts between
// number types with a plain cast, which is undefined behaviour when a float does not fit the integer
// or float it goes into (UBSan found "hidden_size": 6.4e38 read as int64 in config.json).
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <nlohmann/json.hpp>

namespace frugal {

// Whether `v` is a number that `v.get<T>()` converts exactly or, for a float T, within its range.
// An integer T also takes a float with a whole value (2048.0).
template <typename T>
bool json_fits(const nlohmann::json& v) {
  static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>);
  if (!v.is_number()) return false;
  if constexpr (std::is_floating_point_v<T>) {
    return !v.is_number_float() || std::fabs(v.get<double>()) <= static_cast<double>(std::numeric_limits<T>::max());
  } else {
    // Bounds as doubles: min is a power of two (exact); max + 1 is one too, so "< max + 1".
    const double lo = static_cast<double>(std::numeric_limits<T>::min());
    const double hi = static_cast<double>(std::numeric_limits<T>::max()) + 1.0;
    if (v.is_number_float()) {
      const double d = v.get<double>();
      return d >= lo && d < hi && d == std::trunc(d);
    }
    if (v.is_number_unsigned()) return v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max());
    const int64_t i = v.get<int64_t>();
    return std::is_signed_v<T> ? i >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                                     i <= static_cast<int64_t>(std::numeric_limits<T>::max())
                               : i >= 0 && static_cast<uint64_t>(i) <= static_cast<uint64_t>(std::numeric_limits<T>::max());
  }
}

}  // namespace frugal
