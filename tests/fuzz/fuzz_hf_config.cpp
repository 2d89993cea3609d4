// A Hugging Face model folder's config.json: architecture, sizes, RoPE settings, sliding windows,
// bitsandbytes quantization_config. The folder holds no weights, so a config that passes ends at
// "no model.safetensors", an Error like every other outcome.
#include <cstdint>
#include <string_view>

#include "fuzz_util.h"
#include "model/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace frugal;
  const std::string dir = fuzz::scratch_dir() + "/hf";
  static const bool made = std::filesystem::create_directories(dir);
  (void)made;
  fuzz::write_file(dir + "/config.json", std::string_view(reinterpret_cast<const char*>(data), size));
  fuzz::expect_clean([&] { (void)load_hf_model(dir); });
  return 0;
}
