#include "tokenizer/bpe.h"

#include <string>

#include "tokenizer/merge.h"
#include "tokenizer/unicode.h"

namespace frugal {

void bpe_encode(const Vocab& vocab, const TokenIndex& index, const PreTokenizer& pre, std::string_view text,
                std::vector<int32_t>& out) {
  const PreTokenizerSpec& spec = pre.spec();
  std::vector<std::string_view> words;
  pre.split(text, words);
  std::string spelled;
  std::vector<MergeSymbol> symbols;
  for (std::string_view word : words) {
    if (spec.byte_level) {
      bytes_to_alphabet(word, spelled);
    } else {
      spelled.assign(word);
    }
    const bool newline_run = spec.whole_newline_runs && word.find_first_not_of('\n') == std::string_view::npos;
    if (spec.ignore_merges || newline_run) {
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
      if (symbols[i].id >= 0) {
        out.push_back(symbols[i].id);
      } else if (spec.byte_level) {
        // A byte missing from the vocabulary (a truncated alphabet) becomes <unk> when there is one
        // and is dropped otherwise, as in Hugging Face's BPE.
        if (vocab.unk_id >= 0) out.push_back(vocab.unk_id);
      } else {
        // Raw UTF-8 vocabularies fall back to <0xNN> byte tokens; bytes without one are dropped (llama.cpp).
        for (char byte : std::string_view(spelled).substr(symbols[i].start, symbols[i].len))
          if (index.byte_ids[static_cast<uint8_t>(byte)] >= 0) out.push_back(index.byte_ids[static_cast<uint8_t>(byte)]);
      }
    }
  }
}

}  // namespace frugal
