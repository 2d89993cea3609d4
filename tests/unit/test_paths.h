// Locations of test data, fixed at build time by tests/CMakeLists.txt.
#pragma once
#include <fstream>
#include <sstream>
#include <string>

namespace frugal::test {
// tests/data (FRUGAL_TEST_DATA): the real models, vocabularies and datasets, with their provenance.
inline std::string data_file(const std::string& rel) { return std::string(FRUGAL_TEST_DATA) + "/" + rel; }
inline std::string fixture(const std::string& rel) { return std::string(FRUGAL_FIXTURES) + "/" + rel; }
inline std::string model_cache(const std::string& rel) { return std::string(FRUGAL_MODEL_CACHE) + "/" + rel; }
inline std::string frugal_binary() { return FRUGAL_BINARY; }

// A whole file as bytes ("" when it cannot be read; callers compare against expected content).
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace frugal::test
