// The greedy pair-merge loop shared by SentencePiece-style and byte-level BPE: the text starts as
// one symbol per character; the best-ranked adjacent pair is merged until no pair qualifies.
// Ties go to the leftmost pair (llama.cpp's llm_tokenizer_spm/bpe, SentencePiece, Hugging Face).
#pragma once
#include <cstdint>
#include <queue>
#include <string_view>
#include <vector>

#include "tokenizer/token_index.h"
#include "tokenizer/unicode.h"

namespace frugal {

struct MergeSymbol {
  int32_t prev, next;   // neighbours in the chain, -1 at the ends
  uint32_t start, len;  // byte range in the text; len 0 once merged into its left neighbour
  int32_t id;           // token id of this range, or -1 when the range is not a token
};

struct MergeCandidate {
  double priority;  // higher merges first (a score, or minus a merge rank)
  int32_t result;   // token id of the merged pair
};

// One symbol per UTF-8 character of `text`, each given the id `lookup(char)` returns.
template <typename Lookup>
void split_characters(std::string_view text, Lookup&& lookup, std::vector<MergeSymbol>& symbols);

// `pair(left, right, candidate)` returns false when the pair may not merge.
template <typename PairFn>
void merge_symbols(std::vector<MergeSymbol>& symbols, PairFn&& pair) {
  struct Entry {
    double priority;
    int32_t left, right;
    uint32_t left_len, right_len;  // lengths when queued: a later change makes the entry stale
    int32_t result;
  };
  auto worse = [](const Entry& a, const Entry& b) {
    return a.priority < b.priority || (a.priority == b.priority && a.left > b.left);
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(worse)> queue(worse);
  auto consider = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    MergeCandidate c;
    if (pair(symbols[left], symbols[right], c))
      queue.push({c.priority, left, right, symbols[left].len, symbols[right].len, c.result});
  };
  for (size_t i = 1; i < symbols.size(); ++i) consider(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
  while (!queue.empty()) {
    const Entry e = queue.top();
    queue.pop();
    MergeSymbol& l = symbols[e.left];
    MergeSymbol& r = symbols[e.right];
    // Lengths only grow or drop to 0, so equal lengths mean both symbols are unchanged.
    if (l.len != e.left_len || r.len != e.right_len || l.next != e.right) continue;
    l.len += r.len;
    l.id = e.result;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = e.left;
    r.len = 0;
    consider(l.prev, e.left);
    consider(e.left, l.next);
  }
}

template <typename Lookup>
void split_characters(std::string_view text, Lookup&& lookup, std::vector<MergeSymbol>& symbols) {
  symbols.clear();
  uint32_t pos = 0;
  const auto n = static_cast<uint32_t>(text.size());
  while (pos < n) {
    auto len = static_cast<uint32_t>(utf8_sequence_length(static_cast<uint8_t>(text[pos])));
    if (len > n - pos) len = n - pos;
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({index - 1, pos + len < n ? index + 1 : -1, pos, len, lookup(text.substr(pos, len))});
    pos += len;
  }
}

// Merges by the vocabulary's merge list: lower rank first (byte-level BPE, and SentencePiece-style
// vocabularies that come with merges).
inline void merge_by_rank(std::vector<MergeSymbol>& symbols, const TokenIndex& index) {
  merge_symbols(symbols, [&](const MergeSymbol& l, const MergeSymbol& r, MergeCandidate& c) {
    if (l.id < 0 || r.id < 0) return false;
    const MergeRule* rule = index.find_merge(l.id, r.id);
    if (!rule) return false;
    c = {-static_cast<double>(rule->rank), rule->result};
    return true;
  });
}

}  // namespace frugal
