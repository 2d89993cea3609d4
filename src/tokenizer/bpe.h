// BPE with a merge list (GPT-2, Llama 3, Qwen2, StarCoder, SmolLM ...; llama.cpp's llm_tokenizer_bpe):
// the pre-tokenizer cuts the text into words, each word's bytes are spelled in GPT-2's byte
// alphabet (or kept as UTF-8 where the pipeline says so), and adjacent symbols merge by merge rank,
// lowest first, inside each word.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/token_index.h"
#include "tokenizer/vocab.h"

namespace frugal {

// `text` is one piece of raw text (special tokens already cut out), valid UTF-8; `at_start` when it
// begins the whole input.
void bpe_encode(const Vocab& vocab, const TokenIndex& index, const PreTokenizer& pre, std::string_view text,
                bool at_start, std::vector<int32_t>& out);

}  // namespace frugal
