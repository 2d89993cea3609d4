// Autoregressive generation with a KV cache: prompt in one batched pass, then token by token.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/precision.h"
#include "infer/sampler.h"
#include "model/lora.h"
#include "model/model.h"

namespace frugal {

struct GenerateOptions {
  int64_t max_new_tokens = 256;
  SamplingOptions sampling;
  Precision precision = Precision::F32;
  bool stop_at_end_token = true;  // EOS / end-of-turn (and BOS, which llama2.c treats as a boundary)
  const LoraAdapter* adapter = nullptr;  // applied unmerged (InferenceSession); null: the base alone
};

// Why generation ended: an end-of-text token, max_new_tokens or the context, or the caller's sink.
enum class GenerateEnd { EndToken, Length, Caller };

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids (without the prompt)
  double prompt_seconds = 0, decode_seconds = 0;
  GenerateEnd end = GenerateEnd::Length;
};

// `on_text` receives the generated text as it becomes complete UTF-8; returning false stops
// generation after that token (a stop string seen, a client gone).
using TextSink = std::function<bool(const std::string&)>;
GenerateResult generate(Model& model, const std::vector<int32_t>& prompt, const GenerateOptions& options,
                        const TextSink& on_text);

// Turns token pieces into text incrementally (Tokenizer::stream_piece, which drops the leading
// space SentencePiece-style vocabularies put on the token after BOS), holding back an incomplete
// UTF-8 sequence until the rest of it arrives.
class TextStreamer {
 public:
  explicit TextStreamer(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  std::string push(int32_t previous, int32_t token);  // returns text ready to print
  std::string flush();

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;
};

}  // namespace frugal
