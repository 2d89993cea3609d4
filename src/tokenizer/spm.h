// SentencePiece-style BPE (llama.cpp's llm_tokenizer_spm): pairs of adjacent symbols merge while
// their concatenation is a token, best score first; what never becomes a token falls back to
// byte tokens <0xNN>. Vocabularies that come with a merge list (Hugging Face BPE with
// byte_fallback) merge by rank instead, as the Hugging Face tokenizer does.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/token_index.h"
#include "tokenizer/vocab.h"

namespace frugal {

// `text` is already escaped: spaces replaced by U+2581 and the space prefix, if any, added.
void spm_encode(const Vocab& vocab, const TokenIndex& index, std::string_view text, std::vector<int32_t>& out);

}  // namespace frugal
