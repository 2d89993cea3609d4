// Reading the masks make_prune_fixtures.py records: numpy.packbits of the keep-mask (1 = kept,
// the first weight in the most significant bit of the first byte), base64-encoded.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/read_file.h"
#include "test_paths.h"

namespace frugal::test {

// tests/fixtures/<folder>/<name>.json, as make_prune_fixtures.py wrote it.
inline nlohmann::json prune_fixture_json(const std::string& folder, const std::string& name) {
  return nlohmann::json::parse(read_whole_file(fixture(folder + "/" + name + ".json")));
}

// The calibration samples both sides were fed, and the tokens perplexity is measured on.
struct PruneCalibration {
  std::vector<std::vector<int32_t>> samples;
  std::vector<int32_t> eval;
};

inline PruneCalibration read_prune_calibration(const std::string& folder) {
  const nlohmann::json j = prune_fixture_json(folder, "calibration");
  PruneCalibration out;
  for (const auto& s : j["samples"]) out.samples.push_back(s.get<std::vector<int32_t>>());
  out.eval = j["eval"].get<std::vector<int32_t>>();
  return out;
}

inline std::vector<uint8_t> base64_decode(const std::string& s) {
  std::vector<uint8_t> out;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : s) {
    int v;
    if (ch >= 'A' && ch <= 'Z')
      v = ch - 'A';
    else if (ch >= 'a' && ch <= 'z')
      v = ch - 'a' + 26;
    else if (ch >= '0' && ch <= '9')
      v = ch - '0' + 52;
    else if (ch == '+')
      v = 62;
    else if (ch == '/')
      v = 63;
    else
      continue;  // '=' padding
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

inline bool kept_bit(const std::vector<uint8_t>& packed, int64_t i) {
  return (packed[i / 8] >> (7 - i % 8)) & 1;
}

}  // namespace frugal::test
