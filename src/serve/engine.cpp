#include "serve/engine.h"

#include <omp.h>

#include <random>

#include "core/error.h"
#include "infer/generate.h"
#include "serve/api_error.h"
#include "serve/stop_strings.h"
#include "tokenizer/vocab.h"

namespace frugal {

GenerationEngine::GenerationEngine(Model& model, EngineOptions options) : model_(model), options_(std::move(options)) {
  if (!options_.chat_template.empty())
    chat_template_ = std::make_unique<ChatTemplate>(options_.chat_template, options_.chat_template_origin);
}

GenerationEngine::~GenerationEngine() = default;

void GenerationEngine::add_adapter(const std::string& id, LoraAdapter adapter) {
  if (id.empty()) fail("adapter: the model id is empty");
  if (id == options_.base_id || adapters_.count(id)) fail("adapter '" + id + "': this model id is already served");
  // One base serves every adapter with one RoPE; an adapter trained for a stretched context needs its own.
  if (adapter.context_extension.extends())
    fail("adapter '" + id + "': trained with rope_scaling " + context_extension_text(adapter.context_extension) +
         ", which the shared base does not use: serve the merged model (frugal merge) instead");
  adapters_[id] = std::make_shared<const LoraAdapter>(std::move(adapter));
  adapter_order_.push_back(id);
}

int64_t GenerationEngine::context_length() const {
  return model_.config.context_length > 0 ? model_.config.context_length : 2048;  // generate's default
}

std::shared_ptr<const LoraAdapter> GenerationEngine::adapter_for(const std::string& id) const {
  if (id.empty() || id == options_.base_id) return nullptr;
  auto it = adapters_.find(id);
  if (it == adapters_.end())
    throw ApiError(404, "The model '" + id + "' does not exist (GET /v1/models lists the ones served)", "model",
                   "model_not_found");
  return it->second;
}

std::vector<int32_t> GenerationEngine::prompt_tokens(const CompletionRequest& r) const {
  std::vector<int32_t> ids;
  try {
    if (r.kind == CompletionKind::Chat) {
      if (!chat_template_)
        throw ApiError(400, "the model has no chat template (start the server with --chat-template-file); use /v1/completions",
                       "messages");
      const std::string text = chat_template_->render(r.messages, chat_options(model_.tokenizer->vocab(), true));
      ids = model_.tokenizer->encode(text, true, true);
    } else if (r.prompt_is_tokens) {
      ids = r.prompt_tokens;
      for (int32_t id : ids)
        if (id < 0 || id >= model_.config.vocab_size)
          throw ApiError(400, "token id " + std::to_string(id) + " is outside the vocabulary of " +
                                  std::to_string(model_.config.vocab_size), "prompt");
    } else {
      ids = model_.tokenizer->encode(r.prompt, true, false);
    }
  } catch (const Error& e) {  // a template that raises (roles out of order, ...), text the tokenizer refuses
    throw ApiError(400, e.what(), r.kind == CompletionKind::Chat ? "messages" : "prompt");
  }
  if (ids.empty()) throw ApiError(400, "the prompt has no tokens", r.kind == CompletionKind::Chat ? "messages" : "prompt");
  return ids;
}

int64_t GenerationEngine::completion_budget(const CompletionRequest& r, size_t prompt_tokens) const {
  const int64_t context = context_length(), prompt = static_cast<int64_t>(prompt_tokens);
  const std::string param = r.kind == CompletionKind::Chat ? "messages" : "prompt";
  if (prompt >= context)
    throw ApiError(400, "the prompt has " + std::to_string(prompt) + " tokens; this model's context is " +
                            std::to_string(context), param, "context_length_exceeded");
  if (r.max_tokens && prompt + *r.max_tokens > context)
    throw ApiError(400, "the prompt's " + std::to_string(prompt) + " tokens plus max_tokens " + std::to_string(*r.max_tokens) +
                            " exceed this model's context of " + std::to_string(context), "max_tokens",
                   "context_length_exceeded");
  return r.max_tokens.value_or(context - prompt);
}

CompletionOutcome GenerationEngine::complete(const CompletionRequest& r, const std::vector<int32_t>& prompt,
                                             const std::function<bool(const std::string&)>& on_text) {
  const std::shared_ptr<const LoraAdapter> adapter = adapter_for(r.model);
  GenerateOptions g;
  g.max_new_tokens = completion_budget(r, prompt.size());
  g.sampling = r.sampling;
  g.sampling.seed = r.seed ? *r.seed : std::random_device{}();
  g.precision = options_.precision;
  g.adapter = adapter.get();

  CompletionOutcome out;
  out.prompt_tokens = static_cast<int64_t>(prompt.size());
  StopStrings stops(r.stop);
  auto emit = [&](const std::string& piece) {
    if (piece.empty() || out.cancelled) return;
    out.text += piece;
    if (on_text && !on_text(piece)) out.cancelled = true;
  };
  std::lock_guard<std::mutex> lock(generate_mutex_);
  // OpenMP's thread count is per calling thread, and requests arrive on the HTTP server's threads.
  if (options_.threads > 0) omp_set_num_threads(options_.threads);
  const GenerateResult result = generate(model_, prompt, g, [&](const std::string& piece) {
    emit(stops.push(piece));
    return !stops.stopped() && !out.cancelled;
  });
  emit(stops.flush());
  out.completion_tokens = static_cast<int64_t>(result.tokens.size());
  out.finish_reason = stops.stopped() || result.end == GenerateEnd::EndToken ? "stop" : "length";
  return out;
}

std::vector<int32_t> GenerationEngine::tokenize(const std::string& text, bool add_special, bool parse_special) const {
  try {
    return model_.tokenizer->encode(text, add_special, parse_special);
  } catch (const Error& e) {
    throw ApiError(400, e.what(), "content");
  }
}

std::string GenerationEngine::detokenize(const std::vector<int32_t>& ids) const {
  for (int32_t id : ids)
    if (id < 0 || id >= model_.tokenizer->size())
      throw ApiError(400, "token id " + std::to_string(id) + " is outside the vocabulary of " +
                              std::to_string(model_.tokenizer->size()), "tokens");
  return model_.tokenizer->decode(ids);
}

}  // namespace frugal
