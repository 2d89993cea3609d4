#include "tokenizer/bpe.h"

#include <string>

#include "tokenizer/merge.h"
#include "tokenizer/unicode.h"

namespace frugal {

void bpe_encode(const Vocab& vocab, const TokenIndex& index, const PreTokenizer& pre, std::string_view text,
                bool at_start, std::vector<int32_t>& out) {
  const TextPipeline& p = pre.pipeline();
  std::vector<std::string> words;
  pre.split(text, at_start, words);
  std::string spelled;
  std::vector<MergeSymbol> symbols;
  bool unk_fused = false;  // the last id pushed is an unknown token that fuse_unk may extend
  const auto push = [&](int32_t id, bool unknown) {
    if (unknown && p.fuse_unk && unk_fused) return;
    out.push_back(id);
    unk_fused = unknown;
  };
  for (const std::string& word : words) {
    if (p.byte_level) {
      bytes_to_alphabet(word, spelled);
    } else {
      spelled = word;
    }
    const bool newline_run = p.whole_newline_runs && word.find_first_not_of('\n') == std::string::npos;
    if (p.ignore_merges || newline_run) {
      const int32_t whole = index.find(spelled);
      if (whole >= 0) {
        push(whole, false);
        continue;
      }
    }
    split_characters(
        spelled, [&](std::string_view c) { return index.find(c); }, symbols);
    merge_by_rank(symbols, index);
    for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
      if (symbols[i].id >= 0) {
        push(symbols[i].id, false);
      } else if (p.byte_level || !p.byte_fallback) {
        // A character missing from the vocabulary (a truncated byte alphabet, or raw text without
        // byte fallback) becomes <unk> when there is one and is dropped otherwise, as in Hugging
        // Face's BPE.
        if (vocab.unk_id >= 0) push(vocab.unk_id, true);
      } else {
        // Byte fallback: <0xNN> tokens; a byte without one becomes <unk> where there is one, and is
        // dropped otherwise (llama.cpp).
        for (char byte : std::string_view(spelled).substr(symbols[i].start, symbols[i].len)) {
          const int32_t id = index.byte_ids[static_cast<uint8_t>(byte)];
          if (id >= 0) push(id, false);
          else if (vocab.unk_id >= 0) push(vocab.unk_id, true);
        }
      }
    }
  }
}

}  // namespace frugal
