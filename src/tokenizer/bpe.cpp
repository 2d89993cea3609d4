#include "tokenizer/bpe.h"

#include <string>

#include "tokenizer/merge.h"
#include "tokenizer/unicode.h"

namespace frugal {

void bpe_encode(const Vocab& vocab, const TokenIndex& index, const PreTokenizer& pre, std::string_view text,
                std::vector<int32_t>& out) {
  std::vector<std::string_view> words;
  pre.split(text, words);
  std::string spelled;
  std::vector<MergeSymbol> symbols;
  for (std::string_view word : words) {
    bytes_to_alphabet(word, spelled);
    if (pre.ignore_merges()) {
      const int32_t whole = index.find(spelled);
      if (whole >= 0) {
        out.push_back(whole);
        continue;
      }
    }
    split_characters(
        spelled, [&](std::string_view c) { return index.find(c); }, symbols);
    merge_by_rank(symbols, index);
    for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
      // A byte missing from the vocabulary (a truncated alphabet) becomes <unk> when there is one
      // and is dropped otherwise, as in Hugging Face's BPE.
      const int32_t id = symbols[i].id >= 0 ? symbols[i].id : vocab.unk_id;
      if (id >= 0) out.push_back(id);
    }
  }
}

}  // namespace frugal
