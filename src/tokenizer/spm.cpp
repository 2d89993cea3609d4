#include "tokenizer/spm.h"

#include <cstdio>

#include "core/error.h"
#include "tokenizer/merge.h"

namespace frugal {

namespace {

int32_t byte_fallback(const Vocab& vocab, const TokenIndex& index, uint8_t byte) {
  if (index.byte_ids[byte] >= 0) return index.byte_ids[byte];
  // Vocabularies without <0xNN> tokens: the byte as a one-character token (llama.cpp), else <unk>.
  const int32_t id = index.find(std::string_view(reinterpret_cast<const char*>(&byte), 1));
  if (id >= 0) return id;
  if (vocab.unk_id >= 0) return vocab.unk_id;
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02X", byte);
  fail(vocab.source, "tokens", std::string("no token for byte ") + hex + " and no unknown token");
}

}  // namespace

void spm_encode(const Vocab& vocab, const TokenIndex& index, std::string_view text, std::vector<int32_t>& out) {
  std::vector<MergeSymbol> symbols;
  split_characters(
      text, [&](std::string_view c) { return index.find(c); }, symbols);
  if (vocab.merges.empty()) {
    merge_symbols(symbols, [&](const MergeSymbol& l, const MergeSymbol& r, MergeCandidate& c) {
      // Adjacent symbols are adjacent in the text, so the pair's text is one substring.
      const int32_t id = index.find(text.substr(l.start, l.len + r.len));
      if (id < 0) return false;
      c = {vocab.scores.empty() ? 0.0 : static_cast<double>(vocab.scores[id]), id};
      return true;
    });
  } else {
    merge_by_rank(symbols, index);
  }
  for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
    const MergeSymbol& s = symbols[i];
    if (s.id >= 0) {
      out.push_back(s.id);
      continue;
    }
    for (char byte : text.substr(s.start, s.len))
      out.push_back(byte_fallback(vocab, index, static_cast<uint8_t>(byte)));
  }
}

}  // namespace frugal
