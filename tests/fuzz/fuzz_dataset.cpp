// Dataset records: a JSON array or JSONL of text, instruction or chat records. The first byte picks
// the declared format (auto, text, instruction, chat) so every reader path is reached; the rest is
// the file, plain or gzip/zstd-compressed.
#include <cstdint>
#include <string>

#include "data/compressed_text.h"
#include "data/dataset.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace frugal;
  if (size == 0) return 0;
  DatasetOptions options;
  static constexpr DatasetFormat kFormats[] = {DatasetFormat::Auto, DatasetFormat::Text, DatasetFormat::Instruction,
                                               DatasetFormat::Chat};
  options.format = kFormats[data[0] % 4];
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  fuzz::expect_clean([&] { (void)parse_dataset(decompress_if_compressed(text, "fuzz.jsonl"), "fuzz.jsonl", options); });
  return 0;
}
