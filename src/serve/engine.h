// The server's generation engine: one base model loaded once, any number of LoRA adapters kept
// unmerged beside it, and each request naming the model id it wants (the base's, or an adapter's,
// as vLLM lists them). A request runs the same generation loop as `frugal generate`, with its
// adapter applied as scale * B (A x) on top of the shared base products (model/adapter_linears.h).
//
// This first version runs one request at a time behind a mutex. Continuous batching (sequences
// joining and leaving a shared decode step, each with its own adapter rows) is the next step: the
// projections already take per-row adapter groups, so it needs a scheduler and a multi-sequence
// KV cache, not a different block.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/precision.h"
#include "model/lora.h"
#include "model/model.h"
#include "serve/completion_request.h"
#include "tokenizer/chat_template.h"

namespace frugal {

struct EngineOptions {
  std::string base_id;                 // the base model's id in /v1/models
  Precision precision = Precision::F32;
  int threads = 0;                     // OpenMP threads per request (0: the runtime's default)
  std::string chat_template;           // Jinja source ("": chat requests are refused)
  std::string chat_template_origin;    // names it in error messages
};

struct CompletionOutcome {
  std::string text;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  std::string finish_reason;  // "stop" (end token or stop string) or "length"
  bool cancelled = false;     // the text sink asked to stop (a client gone)
};

class GenerationEngine {
 public:
  GenerationEngine(Model& model, EngineOptions options);
  ~GenerationEngine();

  // Before serving: an adapter read for this model (io/peft_adapter.h, io/gguf_lora.h) under its id.
  void add_adapter(const std::string& id, LoraAdapter adapter);

  const std::string& base_id() const { return options_.base_id; }
  const std::vector<std::string>& adapter_ids() const { return adapter_order_; }
  int64_t context_length() const;
  // The adapter a model id names: null for the base; ApiError 404 for an id nobody serves.
  std::shared_ptr<const LoraAdapter> adapter_for(const std::string& model_id) const;

  // The request's prompt as token ids, the chat template applied as `frugal generate --chat` does;
  // ApiError 400 when it is empty, fails to render, or leaves no room in the context.
  std::vector<int32_t> prompt_tokens(const CompletionRequest& request) const;
  // The number of tokens the request may generate after `prompt` (ApiError 400 when too many).
  int64_t completion_budget(const CompletionRequest& request, size_t prompt_tokens) const;

  // Generates for one request; `on_text` gets each piece of text as it is ready (stop strings held
  // back and cut) and returns false to cancel. Requests wait for each other here.
  CompletionOutcome complete(const CompletionRequest& request, const std::vector<int32_t>& prompt,
                             const std::function<bool(const std::string&)>& on_text);

  std::vector<int32_t> tokenize(const std::string& text, bool add_special, bool parse_special) const;
  std::string detokenize(const std::vector<int32_t>& ids) const;  // ApiError 400 for ids out of range

 private:
  Model& model_;
  EngineOptions options_;
  std::unique_ptr<ChatTemplate> chat_template_;
  std::map<std::string, std::shared_ptr<const LoraAdapter>> adapters_;
  std::vector<std::string> adapter_order_;  // as given at start, the order /v1/models lists them
  std::mutex generate_mutex_;  // the model's scratch and prepared weights: one request at a time
};

}  // namespace frugal
