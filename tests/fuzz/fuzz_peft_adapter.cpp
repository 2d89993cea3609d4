// PEFT LoRA adapter folders: adapter_config.json (peft_type, r, alpha, target_modules as list / regex /
// "all-linear", the features refused) and adapter_model.safetensors, joined by the part marker, read
// for the tiny Llama 3 of tests/fixtures/families/llama3 (whose own adapter is the seed).
#include <cstdint>
#include <string_view>

#include "fuzz_util.h"
#include "io/peft_adapter.h"
#include "model/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace frugal;
  static const LlamaConfig model = load_hf_model(std::string(FRUGAL_FIXTURES) + "/families/llama3/hf")->config;
  const std::string dir = fuzz::scratch_dir() + "/adapter";
  static const bool made = std::filesystem::create_directories(dir);
  (void)made;
  const auto parts = fuzz::split_parts(std::string_view(reinterpret_cast<const char*>(data), size), 2);
  fuzz::write_file(dir + "/adapter_config.json", parts[0]);
  fuzz::write_file(dir + "/adapter_model.safetensors", parts[1]);
  fuzz::expect_clean([&] { (void)read_peft_adapter(dir, model); });
  return 0;
}
