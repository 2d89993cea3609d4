// Training checkpoints: trainer_state.json, config.yaml and trainable.safetensors, joined by the part
// marker. Checksums would stop almost every mutation at the first check, so when trainer_state.json
// is a JSON object without a "checksum", the harness fills in "files" (sizes and CRC-32C of the other
// two parts, when absent) and the checksum as save_checkpoint would: the fuzzer then reaches the
// fields behind them. An input with its own "checksum" exercises the verification itself.
#include <cstdint>
#include <cstdio>
#include <span>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "train/checkpoint.h"

namespace {

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

std::string with_checksums(std::string_view state, std::string_view config, std::string_view tensors) {
  using Json = nlohmann::json;
  Json j = Json::parse(state, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.contains("checksum")) return std::string(state);
  if (!j.contains("files")) {
    j["files"]["trainable.safetensors"] = {{"bytes", tensors.size()},
                                           {"crc32c", hex32(frugal::crc32c(tensors.data(), tensors.size()))}};
    j["files"]["config.yaml"] = {{"bytes", config.size()}, {"crc32c", hex32(frugal::crc32c(config.data(), config.size()))}};
  }
  const std::string text = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  j["checksum"] = hex32(frugal::crc32c(text.data(), text.size()));
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace frugal;
  const std::string dir = fuzz::scratch_dir() + "/checkpoint-1";
  static const bool made = std::filesystem::create_directories(dir);
  (void)made;
  const auto parts = fuzz::split_parts(std::string_view(reinterpret_cast<const char*>(data), size), 3);
  fuzz::write_file(dir + "/trainer_state.json", with_checksums(parts[0], parts[1], parts[2]));
  fuzz::write_file(dir + "/config.yaml", parts[1]);
  fuzz::write_file(dir + "/trainable.safetensors", parts[2]);
  // The seed holds 4 trainable values; other counts are refused with an Error.
  std::vector<float> values(4), m(4), v(4);
  fuzz::expect_clean([&] { (void)load_checkpoint(dir, values, m, v); });
  fuzz::expect_clean([&] { (void)latest_checkpoint(fuzz::scratch_dir()); });
  return 0;
}
