// The body of POST /v1/chat/completions and /v1/completions, read and checked against OpenAI's
// rules before any work is done: every field of the wrong type, out of range or not supported
// is an ApiError 400 naming it, so a client learns what to fix and the server never sees it later.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "infer/sampler.h"
#include "tokenizer/chat_template.h"

namespace frugal {

enum class CompletionKind { Chat, Text };

struct CompletionRequest {
  CompletionKind kind = CompletionKind::Chat;
  std::string model;                    // "" when the client gave none: the base model
  std::vector<ChatMessage> messages;    // Chat
  std::string prompt;                   // Text, as a string...
  std::vector<int32_t> prompt_tokens;   // ...or as token ids (OpenAI accepts both)
  bool prompt_is_tokens = false;
  std::optional<int64_t> max_tokens;    // none: up to the end of the context
  SamplingOptions sampling;             // OpenAI's defaults: temperature 1, top_p 1; top_k 0 (off)
  std::optional<uint64_t> seed;         // none: a fresh one per request
  std::vector<std::string> stop;        // up to 4 strings that end the text (not included in it)
  bool stream = false;
  bool include_usage = false;           // stream_options.include_usage
};

struct RequestLimits {
  int64_t max_tokens = 4096;  // largest max_tokens a request may ask for
};

// Throws ApiError(400) for anything malformed; `body` is the raw request body.
CompletionRequest parse_completion_request(std::string_view body, CompletionKind kind, const RequestLimits& limits);

// The JSON object of a body, or ApiError(400) when it is not one (shared by every POST route).
nlohmann::json parse_json_object(std::string_view body);

}  // namespace frugal
