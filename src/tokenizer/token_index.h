// Lookup tables built once per Tokenizer from a Vocab, shared by the SPM and BPE encoders.
// Building them is also where a vocabulary is checked, so a broken file fails at load, not mid-run.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/vocab.h"

namespace frugal {

struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct MergeRule {
  int32_t rank;    // lower merges first
  int32_t result;  // id of the merged token
};

struct TokenIndex {
  std::unordered_map<std::string, int32_t, StringViewHash, std::equal_to<>> ids;  // token text -> id
  std::unordered_map<uint64_t, MergeRule> merges;                                 // (left id << 32 | right id) -> rule
  std::array<int32_t, 256> byte_ids;                                              // id of "<0xNN>" per byte, or -1
  std::vector<int32_t> specials;  // control, user-defined and unknown ids, longest text first
  std::vector<TokenType> types;   // one per id (Normal where the vocab gives none)

  int32_t find(std::string_view text) const {
    auto it = ids.find(text);
    return it == ids.end() ? -1 : it->second;
  }
  const MergeRule* find_merge(int32_t left, int32_t right) const {
    auto it = merges.find(merge_key(left, right));
    return it == merges.end() ? nullptr : &it->second;
  }
  static uint64_t merge_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
};

// Checks `vocab` (array lengths, token types, special ids, merges naming real tokens, duplicate
// texts) and builds the tables; failures name vocab.source and the field.
TokenIndex build_token_index(const Vocab& vocab);

// "<0x0A>" -> 10 for SentencePiece byte tokens; -1 for any other text.
int byte_token_value(std::string_view text);

}  // namespace frugal
