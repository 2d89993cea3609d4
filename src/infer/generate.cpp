#include "infer/generate.h"

#include <chrono>

#include "core/error.h"
#include "infer/session.h"

namespace frugal {

namespace {
// Length of the longest prefix of `s` that does not end inside a UTF-8 sequence.
size_t complete_utf8_prefix(const std::string& s) {
  size_t i = s.size();
  // Look back at most 3 bytes for a lead byte whose sequence is cut off.
  for (size_t back = 1; back <= 4 && back <= s.size(); ++back) {
    const unsigned char c = static_cast<unsigned char>(s[s.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    size_t need = (c & 0x80) == 0 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    if (need > back) i = s.size() - back;
    break;
  }
  return i;
}
}  // namespace

std::string TextStreamer::push(int32_t previous, int32_t token) {
  pending_ += tokenizer_.stream_piece(previous, token);
  const size_t n = complete_utf8_prefix(pending_);
  std::string out = pending_.substr(0, n);
  pending_.erase(0, n);
  return out;
}

std::string TextStreamer::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

GenerateResult generate(Model& model, const std::vector<int32_t>& prompt, const GenerateOptions& options,
                        const TextSink& on_text) {
  if (prompt.empty()) fail("generate: the prompt has no tokens (the model adds no BOS); give a prompt");
  const int64_t context = std::min<int64_t>(model.config.context_length > 0 ? model.config.context_length : 2048,
                                            static_cast<int64_t>(prompt.size()) + options.max_new_tokens);
  InferenceSession session(model, context, options.precision, options.adapter);
  Sampler sampler(options.sampling);
  TextStreamer streamer(*model.tokenizer);
  GenerateResult result;
  using clock = std::chrono::steady_clock;

  auto t0 = clock::now();
  const std::vector<float>* logits = &session.forward(prompt.data(), static_cast<int64_t>(prompt.size()));
  auto t1 = clock::now();
  result.prompt_seconds = std::chrono::duration<double>(t1 - t0).count();

  int32_t previous = prompt.back();
  for (int64_t i = 0; i < options.max_new_tokens; ++i) {
    const int32_t next = sampler.sample(logits->data(), model.config.vocab_size);
    if (options.stop_at_end_token &&
        (model.tokenizer->is_end_of_generation(next) || next == model.tokenizer->bos_id())) {
      result.end = GenerateEnd::EndToken;
      break;
    }
    result.tokens.push_back(next);
    if (on_text && !on_text(streamer.push(previous, next))) {
      result.end = GenerateEnd::Caller;
      break;
    }
    previous = next;
    if (i + 1 == options.max_new_tokens || session.position() >= session.max_context()) break;
    logits = &session.forward(&next, 1);
  }
  if (on_text && result.end != GenerateEnd::Caller) on_text(streamer.flush());
  result.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  return result;
}

}  // namespace frugal
