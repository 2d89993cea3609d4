// Locations of test data, fixed at build time by tests/CMakeLists.txt.
#pragma once
#include <string>

namespace frugal::test {
inline std::string shared_data(const std::string& rel) { return std::string(FRUGAL_SHARED_DATA) + "/" + rel; }
inline std::string fixture(const std::string& rel) { return std::string(FRUGAL_FIXTURES) + "/" + rel; }
inline std::string model_cache(const std::string& rel) { return std::string(FRUGAL_MODEL_CACHE) + "/" + rel; }
inline std::string frugal_binary() { return FRUGAL_BINARY; }
}  // namespace frugal::test
