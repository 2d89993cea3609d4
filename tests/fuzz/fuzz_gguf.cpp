// GGUF files: the container reader (every metadata type, tensor infos, offsets, alignment), then what
// is built on it: the tokenizer from its metadata and the whole model (config from metadata, weights
// from tensor data).
#include <cstdint>
#include <string_view>

#include "format/gguf.h"
#include "fuzz_util.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace frugal;
  const std::string path = fuzz::scratch_dir() + "/model.gguf";
  fuzz::write_file(path, std::string_view(reinterpret_cast<const char*>(data), size));
  fuzz::expect_clean([&] {
    const GgufFile gguf(path);
    // Every tensor's bytes must lie inside the mapping: ASan reports a read past its end.
    volatile uint8_t sink = 0;
    for (const GgufTensorInfo& t : gguf.tensors())
      if (t.nbytes > 0) sink = sink + t.data[0] + t.data[t.nbytes - 1];
    for (const auto& [key, value] : gguf.metadata())
      if (value.type == GgufValueType::STRING) sink = sink + static_cast<uint8_t>(value.string.size());
    // The tokenizer from metadata alone (a vocab-only file has no tensors for the model below).
    const Tokenizer tokenizer(vocab_from_gguf(gguf));
    (void)tokenizer.decode(tokenizer.encode("Hello world <|im_start|> \xc3\xa9", true, true), true);
  });
  fuzz::expect_clean([&] {
    const std::unique_ptr<Model> model = load_gguf_model(path);
    if (model->tokenizer) {
      const std::vector<int32_t> ids = model->tokenizer->encode("Hello world <|im_start|>", true, true);
      (void)model->tokenizer->decode(ids, true);
    }
  });
  return 0;
}
