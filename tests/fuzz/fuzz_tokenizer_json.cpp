// A Hugging Face tokenizer folder: tokenizer.json (model, vocabulary, merges, added tokens,
// normalizer / pre-tokenizer / decoder pipeline) and tokenizer_config.json (BOS/EOS rules, chat
// template), the two joined by the part marker. A vocabulary that loads then encodes and decodes a
// fixed text.
#include <cstdint>
#include <string_view>

#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace frugal;
  const std::string dir = fuzz::scratch_dir() + "/tok";
  static const bool made = std::filesystem::create_directories(dir);
  (void)made;
  const auto parts = fuzz::split_parts(std::string_view(reinterpret_cast<const char*>(data), size), 2);
  fuzz::write_file(dir + "/tokenizer.json", parts[0]);
  fuzz::write_file(dir + "/tokenizer_config.json", parts[1]);
  fuzz::expect_clean([&] {
    const Tokenizer tokenizer(vocab_from_hf_dir(dir));
    const std::vector<int32_t> ids = tokenizer.encode("Hello  world! 123 <s> ünïcödé\n\tend", true, true);
    (void)tokenizer.decode(ids, true);
  });
  return 0;
}
