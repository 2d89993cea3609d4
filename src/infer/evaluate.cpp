#include "infer/evaluate.h"

#include "core/error.h"
#include "data/batch.h"
#include "data/tokenize_examples.h"
#include "infer/generate.h"
#include "infer/perplexity.h"
#include "infer/session.h"
#include "tokenizer/chat_template.h"

namespace frugal {

namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// The conversation up to the reply being judged, and that reply.
std::pair<std::vector<ChatMessage>, std::string> split_record(const Record& r, DatasetFormat format,
                                                              const std::string& path) {
  if (format == DatasetFormat::Instruction) {
    const std::string user = r.input.empty() ? r.instruction : r.instruction + "\n\n" + r.input;
    return {{{"user", user}}, r.output};
  }
  if (format != DatasetFormat::Chat) fail(path, "line " + std::to_string(r.line), "evaluation needs chat or instruction records");
  if (r.messages.empty() || r.messages.back().role != "assistant")
    fail(path, "line " + std::to_string(r.line), "the last message must be the assistant's reply to judge");
  return {std::vector<ChatMessage>(r.messages.begin(), r.messages.end() - 1), r.messages.back().content};
}

}  // namespace

EvalResult evaluate_dataset(Model& model, const Dataset& dataset, const EvalOptions& options,
                            const std::function<void(int64_t, int64_t)>& progress) {
  Dataset data = dataset;
  if (options.limit > 0 && static_cast<int64_t>(data.records.size()) > options.limit) data.records.resize(options.limit);
  const Tokenizer& tok = *model.tokenizer;
  EvalResult result;

  // Loss on exactly the tokens training would train (completion-only).
  TokenizeOptions t;
  t.sequence_len = options.sequence_len;
  TokenizedDataset examples = tokenize_dataset(data, tok, t);
  const int64_t V = model.config.vocab_size;
  for (const Example& e : examples.examples) {
    InferenceSession session(model, static_cast<int64_t>(e.tokens.size()), options.precision);
    const std::vector<float>& logits = session.forward(e.tokens.data(), static_cast<int64_t>(e.tokens.size()), true);
    for (size_t i = 1; i < e.tokens.size(); ++i)
      if (e.labels[i] != kIgnoreTarget) {
        result.loss += token_nll(&logits[(i - 1) * V], V, e.labels[i]);
        ++result.loss_tokens;
      }
  }
  if (result.loss_tokens) result.loss /= static_cast<double>(result.loss_tokens);

  GenerateOptions g;
  g.max_new_tokens = options.max_new_tokens;
  g.precision = options.precision;
  const int64_t total = static_cast<int64_t>(data.records.size());
  const ChatTemplate chat_template(tok.vocab().chat_template, data.path);
  const ChatOptions chat = chat_options(tok.vocab(), true);
  for (const Record& r : data.records) {
    auto [conversation, reference] = split_record(r, data.format, data.path);
    const std::string prompt = chat_template.render(conversation, chat);
    const std::vector<int32_t> ids = tok.encode(prompt, true, true);
    const GenerateResult out = generate(model, ids, g, nullptr);
    EvalSample s;
    s.prompt = conversation.back().content;
    s.reference = reference;
    s.answer = tok.decode(out.tokens);
    s.correct = trim(s.answer) == trim(reference);
    result.correct += s.correct;
    ++result.records;
    result.samples.push_back(std::move(s));
    if (progress) progress(result.records, total);
  }
  return result;
}

}  // namespace frugal
