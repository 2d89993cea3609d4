// Rules every vocabulary loader applies after reading its file, so GGUF, llama2.c and Hugging Face
// vocabularies of the same model end up identical.
#pragma once
#include <span>
#include <string_view>

#include "tokenizer/vocab.h"

namespace frugal {

// Texts of tokens that end a turn or a document in the chat formats we know (llama.cpp's list).
std::span<const std::string_view> end_of_generation_texts();

// When the file names no end-of-turn token, pick the first of end_of_generation_texts() present
// (in that list's order, so the choice does not depend on hashing), as llama.cpp does, and make it
// a control token so it never decodes as text.
void detect_end_of_turn(Vocab& vocab);

}  // namespace frugal
