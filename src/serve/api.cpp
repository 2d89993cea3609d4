#include "serve/api.h"

#include <chrono>
#include <ctime>
#include <memory>

#include "core/json_number.h"
#include "serve/api_error.h"

namespace frugal {

namespace {

using nlohmann::json;

HttpReply json_reply(int status, const json& body) {
  HttpReply r;
  r.status = status;
  r.body = dump_json(body);
  return r;
}

std::string sse_event(const json& data) { return "data: " + dump_json(data) + "\n\n"; }

json usage_json(const CompletionOutcome& o) {
  return {{"prompt_tokens", o.prompt_tokens}, {"completion_tokens", o.completion_tokens},
          {"total_tokens", o.prompt_tokens + o.completion_tokens}};
}

// One choice of a reply or of a streamed chunk, in the shape of its kind.
json choice(CompletionKind kind, bool chunk, const std::string& text, const json& finish_reason, bool first = false) {
  json c = {{"index", 0}};
  if (kind == CompletionKind::Text) {
    c["text"] = text;
  } else if (chunk) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (first || !text.empty()) delta["content"] = text;
    c["delta"] = delta;
  } else {
    c["message"] = {{"role", "assistant"}, {"content", text}};
  }
  c["logprobs"] = nullptr;
  c["finish_reason"] = finish_reason;
  return c;
}

bool bearer_matches(const std::string& header, const std::string& key) {
  const std::string prefix = "Bearer ";
  if (header.size() != prefix.size() + key.size() || header.compare(0, prefix.size(), prefix) != 0) return false;
  // Compares every byte whatever the first difference, so the time taken tells nothing about the key.
  unsigned char diff = 0;
  for (size_t i = 0; i < key.size(); ++i) diff |= static_cast<unsigned char>(header[prefix.size() + i] ^ key[i]);
  return diff == 0;
}

std::string route_label(const std::string& path) {
  for (const char* known : {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics", "/tokenize",
                            "/detokenize"})
    if (path == known) return path;
  return "other";
}

}  // namespace

HttpReply ServeApi::error_reply(const std::string& route, int status, const std::string& message) {
  metrics_.request_done(route_label(route), status);
  return json_reply(status, api_error_body(status, message));
}

HttpReply ServeApi::handle(const std::string& method, const std::string& path, const std::string& authorization,
                           const std::string& body) {
  HttpReply reply;
  try {
    reply = route(method, path, authorization, body);
  } catch (const ApiError& e) {
    reply = json_reply(e.status, api_error_body(e));
  } catch (const std::bad_alloc&) {
    reply = json_reply(500, api_error_body(500, "out of memory while handling the request"));
  } catch (const std::exception& e) {
    reply = json_reply(500, api_error_body(500, std::string("internal error: ") + e.what()));
  }
  metrics_.request_done(route_label(path), reply.status);
  return reply;
}

HttpReply ServeApi::route(const std::string& method, const std::string& path, const std::string& authorization,
                          const std::string& body) {
  if (path == "/health") return json_reply(200, {{"status", "ok"}});
  if (!options_.api_key.empty() && !bearer_matches(authorization, options_.api_key))
    throw ApiError(401, "Missing or incorrect API key: send the header 'Authorization: Bearer <key>'", "", "invalid_api_key");
  if (static_cast<int64_t>(body.size()) > options_.max_body_bytes)
    throw ApiError(413, "the body has " + std::to_string(body.size()) + " bytes; this server takes at most " +
                            std::to_string(options_.max_body_bytes), "", "request_too_large");
  auto expect = [&](const char* m) {
    if (method != m) throw ApiError(405, path + " takes " + m + ", not " + method);
  };
  if (path == "/v1/chat/completions") {
    expect("POST");
    return completion(body, CompletionKind::Chat);
  }
  if (path == "/v1/completions") {
    expect("POST");
    return completion(body, CompletionKind::Text);
  }
  if (path == "/v1/models") {
    expect("GET");
    return models();
  }
  if (path == "/tokenize") {
    expect("POST");
    return tokenize(body);
  }
  if (path == "/detokenize") {
    expect("POST");
    return detokenize(body);
  }
  if (path == "/metrics") {
    expect("GET");
    HttpReply r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics_.prometheus_text();
    return r;
  }
  throw ApiError(404, "no route " + method + " " + path, "", "not_found");
}

std::string ServeApi::next_id(CompletionKind kind) {
  return (kind == CompletionKind::Chat ? "chatcmpl-" : "cmpl-") + std::to_string(++requests_);
}

HttpReply ServeApi::completion(const std::string& body, CompletionKind kind) {
  auto request = std::make_shared<CompletionRequest>(parse_completion_request(body, kind, options_.limits));
  // Everything a request can get wrong is found before the reply starts, so a stream never opens
  // only to carry an error: the model id, the prompt, and its room in the context.
  engine_.adapter_for(request->model);
  if (request->model.empty()) request->model = engine_.base_id();
  auto prompt = std::make_shared<std::vector<int32_t>>(engine_.prompt_tokens(*request));
  engine_.completion_budget(*request, prompt->size());

  const std::string id = next_id(kind);
  const int64_t created = static_cast<int64_t>(std::time(nullptr));
  const std::string object = kind == CompletionKind::Chat ? "chat.completion" : "text_completion";
  auto header = [id, created, request](const std::string& obj) {
    return json{{"id", id}, {"object", obj}, {"created", created}, {"model", request->model}};
  };
  auto run = [this, request, prompt](const std::function<bool(const std::string&)>& on_text) {
    metrics_.generation_started();
    const auto t0 = std::chrono::steady_clock::now();
    CompletionOutcome o;
    try {
      o = engine_.complete(*request, *prompt, on_text);
    } catch (...) {
      metrics_.generation_finished(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      throw;
    }
    metrics_.generation_finished(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    metrics_.tokens(o.prompt_tokens, o.completion_tokens);
    return o;
  };

  if (!request->stream) {
    const CompletionOutcome o = run(nullptr);
    json reply = header(object);
    reply["choices"] = json::array({choice(kind, false, o.text, o.finish_reason)});
    reply["usage"] = usage_json(o);
    return json_reply(200, reply);
  }

  HttpReply reply;
  reply.content_type = "text/event-stream";
  const std::string chunk_object = kind == CompletionKind::Chat ? "chat.completion.chunk" : "text_completion";
  reply.stream = [run, header, chunk_object, kind, request](const HttpReply::Writer& write) {
    auto event = [&](const json& choices) {
      json chunk = header(chunk_object);
      chunk["choices"] = choices;
      return write(sse_event(chunk));
    };
    bool open = kind != CompletionKind::Chat || event(json::array({choice(kind, true, "", nullptr, true)}));
    CompletionOutcome o;
    try {
      o = run([&](const std::string& text) { return open = open && event(json::array({choice(kind, true, text, nullptr)})); });
    } catch (const std::exception& e) {
      // The status line is long gone: the error travels as an event, as OpenAI's streams do.
      const ApiError* api = dynamic_cast<const ApiError*>(&e);
      if (open) write(sse_event(api ? api_error_body(*api) : api_error_body(500, e.what())));
      if (open) write("data: [DONE]\n\n");
      return;
    }
    if (!open) return;
    if (!event(json::array({choice(kind, true, "", o.finish_reason)}))) return;
    if (request->include_usage) {
      json chunk = header(chunk_object);
      chunk["choices"] = json::array();
      chunk["usage"] = usage_json(o);
      if (!write(sse_event(chunk))) return;
    }
    write("data: [DONE]\n\n");
  };
  return reply;
}

HttpReply ServeApi::models() const {
  const int64_t created = static_cast<int64_t>(std::time(nullptr));
  json data = json::array();
  data.push_back({{"id", engine_.base_id()}, {"object", "model"}, {"created", created}, {"owned_by", "frugal"},
                  {"root", engine_.base_id()}, {"parent", nullptr}, {"max_model_len", engine_.context_length()}});
  for (const std::string& id : engine_.adapter_ids())
    data.push_back({{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "frugal"},
                    {"root", id}, {"parent", engine_.base_id()}, {"max_model_len", engine_.context_length()}});
  return json_reply(200, {{"object", "list"}, {"data", data}});
}

// llama.cpp's {"content": text, "add_special": bool, "parse_special": bool}, or vLLM's {"prompt": text}.
HttpReply ServeApi::tokenize(const std::string& body) const {
  const json j = parse_json_object(body);
  const char* name = j.contains("content") ? "content" : "prompt";
  auto text = j.find(name);
  if (text == j.end() || !text->is_string()) throw ApiError(400, "'content' must be a string", "content");
  auto flag = [&](const char* key, bool fallback) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) throw ApiError(400, std::string("'") + key + "' must be true or false", key);
    return it->get<bool>();
  };
  const std::vector<int32_t> ids = engine_.tokenize(text->get<std::string>(), flag("add_special", true), flag("parse_special", false));
  return json_reply(200, {{"tokens", ids}, {"count", ids.size()}, {"max_model_len", engine_.context_length()}});
}

HttpReply ServeApi::detokenize(const std::string& body) const {
  const json j = parse_json_object(body);
  auto tokens = j.find("tokens");
  if (tokens == j.end() || !tokens->is_array()) throw ApiError(400, "'tokens' must be a list of token ids", "tokens");
  std::vector<int32_t> ids;
  for (const json& t : *tokens) {
    if (!t.is_number_integer() || !json_fits<int32_t>(t)) throw ApiError(400, "'tokens' must hold token ids", "tokens");
    ids.push_back(t.get<int32_t>());
  }
  const std::string text = engine_.detokenize(ids);
  return json_reply(200, {{"content", text}, {"prompt", text}});
}

}  // namespace frugal
