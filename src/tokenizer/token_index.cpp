#include "tokenizer/token_index.h"

#include <algorithm>
#include <cstdio>

#include "core/error.h"

namespace frugal {

int byte_token_value(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  int value = 0;
  for (char c : text.substr(3, 2)) {
    int digit;
    if (c >= '0' && c <= '9')
      digit = c - '0';
    else if (c >= 'A' && c <= 'F')
      digit = c - 'A' + 10;
    else if (c >= 'a' && c <= 'f')
      digit = c - 'a' + 10;
    else
      return -1;
    value = value * 16 + digit;
  }
  return value;
}

namespace {

// Errors name the field as the source file spells it where that is unambiguous (GGUF keys).
std::string field(const Vocab& v, const std::string& name) {
  const std::string_view src = v.source;
  return src.size() >= 5 && src.substr(src.size() - 5) == ".gguf" ? "tokenizer.ggml." + name : name;
}

void check_id(const Vocab& v, int32_t id, const char* name) {
  if (id < -1 || id >= static_cast<int64_t>(v.tokens.size()))
    fail(v.source, field(v, name),
         "token id " + std::to_string(id) + " is outside the vocabulary (" + std::to_string(v.tokens.size()) +
             " tokens)");
}

void index_merges(const Vocab& v, TokenIndex& index) {
  index.merges.reserve(v.merges.size());
  for (size_t rank = 0; rank < v.merges.size(); ++rank) {
    const std::string& merge = v.merges[rank];
    const std::string where = field(v, "merges[" + std::to_string(rank) + "]");
    // The first space after position 0 separates the pair, so a left part that is itself a
    // space (SentencePiece-style vocabularies never have one, but llama.cpp allows it) still parses.
    const size_t cut = merge.find(' ', 1);
    if (cut == std::string::npos) fail(v.source, where, "'" + merge + "' is not two tokens separated by a space");
    const std::string_view left = std::string_view(merge).substr(0, cut);
    const std::string_view right = std::string_view(merge).substr(cut + 1);
    const int32_t left_id = index.find(left), right_id = index.find(right);
    std::string joined(left);
    joined += right;
    const int32_t result = index.find(joined);
    if (left_id < 0 || right_id < 0 || result < 0) {
      const std::string missing(left_id < 0 ? left : right_id < 0 ? right : std::string_view(joined));
      fail(v.source, where, "'" + merge + "' uses '" + missing + "', which is not a token");
    }
    // A repeated pair keeps its first (best) rank, as Hugging Face does.
    index.merges.emplace(TokenIndex::merge_key(left_id, right_id), MergeRule{static_cast<int32_t>(rank), result});
  }
}

}  // namespace

TokenIndex build_token_index(const Vocab& v) {
  const size_t n = v.tokens.size();
  if (n == 0) fail(v.source, field(v, "tokens"), "the vocabulary has no tokens");
  if (n > static_cast<size_t>(INT32_MAX)) fail(v.source, field(v, "tokens"), "too many tokens");
  if (!v.scores.empty() && v.scores.size() != n)
    fail(v.source, field(v, "scores"),
         "has " + std::to_string(v.scores.size()) + " entries but there are " + std::to_string(n) + " tokens");
  if (!v.token_types.empty() && v.token_types.size() != n)
    fail(v.source, field(v, "token_type"),
         "has " + std::to_string(v.token_types.size()) + " entries but there are " + std::to_string(n) + " tokens");
  check_id(v, v.bos_id, "bos_token_id");
  check_id(v, v.eos_id, "eos_token_id");
  check_id(v, v.unk_id, "unknown_token_id");
  check_id(v, v.pad_id, "padding_token_id");
  check_id(v, v.eot_id, "eot_token_id");
  if (v.add_bos && v.bos_id < 0)
    fail(v.source, field(v, "add_bos_token"), "BOS is to be added but the vocabulary has no BOS id");
  if (v.add_eos && v.eos_id < 0)
    fail(v.source, field(v, "add_eos_token"), "EOS is to be added but the vocabulary has no EOS id");

  TokenIndex index;
  index.types.assign(n, TokenType::Normal);
  for (size_t i = 0; i < v.token_types.size(); ++i) {
    const int32_t t = v.token_types[i];
    if (t < 0 || t > static_cast<int32_t>(TokenType::Byte))
      fail(v.source, field(v, "token_type[" + std::to_string(i) + "]"), "unknown token type " + std::to_string(t));
    index.types[i] = static_cast<TokenType>(t);
  }

  index.ids.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& text = v.tokens[i];
    if (text.empty()) continue;  // never produced by encoding; llama.cpp renames these too
    auto [it, inserted] = index.ids.emplace(text, static_cast<int32_t>(i));
    if (!inserted)
      fail(v.source, field(v, "tokens[" + std::to_string(i) + "]"),
           "'" + text + "' is the same text as token " + std::to_string(it->second));
  }

  index.byte_ids.fill(-1);
  char name[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    index.byte_ids[b] = index.find(name);
  }

  for (size_t i = 0; i < n; ++i) {
    const TokenType t = index.types[i];
    if ((t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown) && !v.tokens[i].empty())
      index.specials.push_back(static_cast<int32_t>(i));
  }
  // Longest first so that a special token containing a shorter one wins; ties keep id order.
  std::stable_sort(index.specials.begin(), index.specials.end(),
                   [&](int32_t a, int32_t b) { return v.tokens[a].size() > v.tokens[b].size(); });

  if (!v.merges.empty()) index_merges(v, index);
  return index;
}

}  // namespace frugal
