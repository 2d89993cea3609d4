#include "tokenizer/vocab_common.h"

#include <array>

namespace frugal {

std::span<const std::string_view> end_of_generation_texts() {
  static constexpr std::array<std::string_view, 10> kTexts = {
      "<|eot_id|>",
      "<|im_end|>",
      "<|end|>",
      "<end_of_turn>",
      "<|endoftext|>",
      "<|end_of_text|>",
      "<EOT>",
      "_<EOT>",
      "<\xEF\xBD\x9C"
      "end\xE2\x96\x81"
      "of\xE2\x96\x81"
      "sentence\xEF\xBD\x9C>",  // DeepSeek's full-width bars
      "<end_of_utterance>",
  };
  return kTexts;
}

void detect_end_of_turn(Vocab& vocab) {
  if (vocab.eot_id >= 0) return;
  for (std::string_view text : end_of_generation_texts()) {
    for (size_t id = 0; id < vocab.tokens.size(); ++id) {
      if (vocab.tokens[id] != text) continue;
      vocab.eot_id = static_cast<int32_t>(id);
      if (vocab.token_types.empty())
        vocab.token_types.assign(vocab.tokens.size(), static_cast<int32_t>(TokenType::Normal));
      vocab.token_types[id] = static_cast<int32_t>(TokenType::Control);
      return;
    }
  }
}

}  // namespace frugal
