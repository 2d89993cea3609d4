// safetensors files: the u64 header length, the JSON header (dtypes, shapes, offsets, __metadata__)
// and the data they point into; then conversion of float tensors to fp32.
#include <cstdint>
#include <string_view>
#include <vector>

#include "format/safetensors.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace frugal;
  const std::string path = fuzz::scratch_dir() + "/model.safetensors";
  fuzz::write_file(path, std::string_view(reinterpret_cast<const char*>(data), size));
  fuzz::expect_clean([&] {
    const SafetensorsFile file(path);
    volatile uint8_t sink = 0;
    for (const SafetensorsTensor& t : file.tensors()) {
      if (t.nbytes > 0) sink = sink + t.data[0] + t.data[t.nbytes - 1];  // inside the mapping
      if (t.dtype == SafeDtype::F32 || t.dtype == SafeDtype::F16 || t.dtype == SafeDtype::BF16) {
        const std::vector<float> values = to_f32(t);
        if (!values.empty()) sink = sink + static_cast<uint8_t>(values.back() != 0);
      }
    }
    for (const auto& [key, value] : file.metadata()) sink = sink + static_cast<uint8_t>(key.size() + value.size());
  });
  return 0;
}
