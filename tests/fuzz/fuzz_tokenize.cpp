// Tokenizers on arbitrary bytes: the committed SentencePiece-style and byte-level BPE vocabularies
// (tests/fixtures, tests/data) encode the input with and without special-token parsing. Text that
// is not UTF-8 must be refused with an Error; byte-level BPE must give the text back on decode
// (tokenizer.h promises it; Hugging Face tokenizers does the same).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"

namespace {

struct Loaded {
  std::unique_ptr<frugal::Tokenizer> tokenizer;
  bool byte_level;
};

std::vector<Loaded> load_all() {
  using namespace frugal;
  const std::string fixtures = FRUGAL_FIXTURES;
  std::vector<Loaded> all;
  for (const char* dir : {"hf_tok_spm", "hf_tok_spm_legacy", "hf_tok_bytelevel", "hf_tok_llama3"}) {
    Vocab vocab = vocab_from_hf_dir(fixtures + "/" + dir);
    const bool byte_level = vocab.kind == TokenizerKind::Bpe;
    all.push_back({std::make_unique<Tokenizer>(std::move(vocab)), byte_level});
  }
  all.push_back({std::make_unique<Tokenizer>(vocab_from_llama2c(std::string(FRUGAL_TEST_DATA) + "/stories260K/tok512.bin", 512)),
                 false});
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace frugal;
  static const std::vector<Loaded> tokenizers = load_all();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const Loaded& t : tokenizers) {
    fuzz::expect_clean([&] { (void)t.tokenizer->decode(t.tokenizer->encode(text, true, true), true); });
    fuzz::expect_clean([&] {
      const std::vector<int32_t> ids = t.tokenizer->encode(text, false, false);
      const std::string back = t.tokenizer->decode(ids);
      if (t.byte_level && back != text) {
        std::fprintf(stderr, "fuzz: byte-level BPE did not round-trip (%zu bytes in, %zu out)\n", text.size(), back.size());
        std::abort();
      }
    });
  }
  return 0;
}
