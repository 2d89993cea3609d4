// The YAML training config (every key declared in train/train_config.cpp, types, validation), and
// the command-line overrides applied on top: the second part, one "--key value" pair per line.
#include <cstdint>
#include <sstream>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "train/train_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace frugal;
  const auto parts = fuzz::split_parts(std::string_view(reinterpret_cast<const char*>(data), size), 2);
  const std::string path = fuzz::scratch_dir() + "/train.yaml";
  fuzz::write_file(path, parts[0]);
  std::vector<std::string> overrides;
  std::istringstream lines{std::string(parts[1])};
  for (std::string line; std::getline(lines, line);) {
    const size_t space = line.find(' ');
    overrides.push_back(line.substr(0, space));
    if (space != std::string::npos) overrides.push_back(line.substr(space + 1));
  }
  fuzz::expect_clean([&] {
    const TrainConfig config = load_train_config(path, overrides);
    (void)train_config_to_yaml(config);
  });
  return 0;
}
