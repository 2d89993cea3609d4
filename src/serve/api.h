// The OpenAI-compatible HTTP API as a function from a request to a reply, without sockets: the
// HTTP library in tools/frugal/cmd_serve.cpp only carries bytes, so every route, status and JSON
// shape here is testable in-process.
//   POST /v1/chat/completions, /v1/completions   (stream: Server-Sent Events ending "data: [DONE]")
//   GET  /v1/models   the base and each adapter as its own model id
//   GET  /health, GET /metrics (Prometheus text), POST /tokenize, POST /detokenize
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "serve/completion_request.h"
#include "serve/engine.h"
#include "serve/metrics.h"

namespace frugal {

struct ApiOptions {
  std::string api_key;             // "": no key asked for
  int64_t max_body_bytes = 1 << 20;
  RequestLimits limits;
};

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // For a streamed reply: writes the body piece by piece through `write`, which returns false once
  // the client is gone (generation then stops). Empty for an ordinary reply.
  using Writer = std::function<bool(const std::string&)>;
  std::function<void(const Writer& write)> stream;
};

class ServeApi {
 public:
  ServeApi(GenerationEngine& engine, ApiOptions options) : engine_(engine), options_(std::move(options)) {}
  // `authorization`: the Authorization header ("" when absent).
  HttpReply handle(const std::string& method, const std::string& path, const std::string& authorization,
                   const std::string& body);
  // An error reply in OpenAI's shape, counted in the metrics (also for errors the HTTP layer finds,
  // such as a body over its size limit).
  HttpReply error_reply(const std::string& route, int status, const std::string& message);
  const ServeMetrics& metrics() const { return metrics_; }

 private:
  HttpReply route(const std::string& method, const std::string& path, const std::string& authorization,
                  const std::string& body);
  HttpReply completion(const std::string& body, CompletionKind kind);
  HttpReply models() const;
  HttpReply tokenize(const std::string& body) const;
  HttpReply detokenize(const std::string& body) const;
  std::string next_id(CompletionKind kind);

  GenerationEngine& engine_;
  ApiOptions options_;
  ServeMetrics metrics_;
  std::atomic<int64_t> requests_{0};
};

}  // namespace frugal
