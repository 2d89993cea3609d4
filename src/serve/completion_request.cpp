#include "serve/completion_request.h"

#include "core/json_number.h"
#include "serve/api_error.h"

namespace frugal {

namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& param, const std::string& message) { throw ApiError(400, message, param); }

// A field that may be absent or null (OpenAI treats null as absent).
const json* field(const json& body, const char* name) {
  auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

int64_t integer(const json& v, const std::string& name, int64_t lo, int64_t hi) {
  if (!v.is_number() || !json_fits<int64_t>(v)) bad(name, "'" + name + "' must be an integer");
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi)
    bad(name, "'" + name + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + std::to_string(x));
  return x;
}

double number(const json& v, const std::string& name, double lo, double hi) {
  if (!v.is_number() || !json_fits<double>(v)) bad(name, "'" + name + "' must be a number");
  const double x = v.get<double>();
  if (!(x >= lo && x <= hi)) bad(name, "'" + name + "' must be between " + json(lo).dump() + " and " + json(hi).dump());
  return x;
}

bool boolean(const json& v, const std::string& name) {
  if (!v.is_boolean()) bad(name, "'" + name + "' must be true or false");
  return v.get<bool>();
}

// Message content: a string, or OpenAI's list of parts of which only text parts are understood.
std::string message_content(const json& v, const std::string& name) {
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array()) bad(name, "'" + name + "' must be a string or a list of text parts");
  std::string text;
  for (const json& part : v) {
    const json* type = part.is_object() ? field(part, "type") : nullptr;
    if (!type || *type != "text") bad(name, "'" + name + "': only parts of type \"text\" are supported");
    const json* t = field(part, "text");
    if (!t || !t->is_string()) bad(name, "'" + name + "': a text part needs a string 'text'");
    text += t->get<std::string>();
  }
  return text;
}

std::vector<ChatMessage> messages_of(const json& body) {
  const json* m = field(body, "messages");
  if (!m) bad("messages", "'messages' is required");
  if (!m->is_array()) bad("messages", "'messages' must be a list");
  if (m->empty()) bad("messages", "'messages' must not be empty");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < m->size(); ++i) {
    const std::string where = "messages[" + std::to_string(i) + "]";
    const json& msg = (*m)[i];
    if (!msg.is_object()) bad(where, "'" + where + "' must be an object");
    const json* role = field(msg, "role");
    if (!role || !role->is_string()) bad(where + ".role", "'" + where + ".role' must be a string");
    std::string r = role->get<std::string>();
    if (r == "developer") r = "system";  // OpenAI's newer name for the system turn
    if (r != "system" && r != "user" && r != "assistant")
      bad(where + ".role", "'" + where + ".role' must be system, developer, user or assistant, not '" + r + "'");
    const json* content = field(msg, "content");
    if (!content) bad(where + ".content", "'" + where + ".content' is required");
    out.push_back({r, message_content(*content, where + ".content")});
  }
  return out;
}

void read_prompt(const json& body, CompletionRequest& r) {
  const json* p = field(body, "prompt");
  if (!p) bad("prompt", "'prompt' is required");
  if (p->is_string()) {
    r.prompt = p->get<std::string>();
    return;
  }
  if (!p->is_array()) bad("prompt", "'prompt' must be a string, a list of one string, or a list of token ids");
  if (p->size() == 1 && (*p)[0].is_string()) {
    r.prompt = (*p)[0].get<std::string>();
    return;
  }
  if (p->empty()) bad("prompt", "'prompt' must not be empty");
  if ((*p)[0].is_string()) bad("prompt", "'prompt': only one prompt per request is supported (n = 1)");
  for (const json& t : *p) r.prompt_tokens.push_back(static_cast<int32_t>(integer(t, "prompt", 0, INT32_MAX)));
  r.prompt_is_tokens = true;
}

std::vector<std::string> stop_strings(const json& v) {
  std::vector<std::string> out;
  if (v.is_string()) out.push_back(v.get<std::string>());
  else if (v.is_array()) {
    if (v.size() > 4) bad("stop", "'stop' may hold at most 4 strings");
    for (const json& s : v) {
      if (!s.is_string()) bad("stop", "'stop' must be a string or a list of strings");
      out.push_back(s.get<std::string>());
    }
  } else {
    bad("stop", "'stop' must be a string or a list of strings");
  }
  for (const std::string& s : out)
    if (s.empty()) bad("stop", "'stop' strings must not be empty");
  return out;
}

}  // namespace

json parse_json_object(std::string_view body) {
  json j = json::parse(body, nullptr, false);  // no exceptions: a discarded value on any error
  if (j.is_discarded()) {
    // Parse again to get the parser's message (where and what), now that we know it fails.
    try {
      [[maybe_unused]] const json again = json::parse(body);
    } catch (const json::exception& e) {
      throw ApiError(400, std::string("the body is not valid JSON: ") + e.what());
    }
    throw ApiError(400, "the body is not valid JSON");
  }
  if (!j.is_object()) throw ApiError(400, "the body must be a JSON object");
  return j;
}

CompletionRequest parse_completion_request(std::string_view text, CompletionKind kind, const RequestLimits& limits) {
  const json body = parse_json_object(text);
  CompletionRequest r;
  r.kind = kind;
  if (const json* m = field(body, "model")) {
    if (!m->is_string()) bad("model", "'model' must be a string");
    r.model = m->get<std::string>();
  }
  if (kind == CompletionKind::Chat) r.messages = messages_of(body);
  else read_prompt(body, r);

  // max_completion_tokens is the chat API's newer name; either may be given, not both differently.
  const json* max_tokens = field(body, "max_tokens");
  const json* max_completion = kind == CompletionKind::Chat ? field(body, "max_completion_tokens") : nullptr;
  if (max_tokens && max_completion && *max_tokens != *max_completion)
    bad("max_completion_tokens", "'max_tokens' and 'max_completion_tokens' disagree");
  if (const json* v = max_tokens ? max_tokens : max_completion) {
    const std::string name = max_tokens ? "max_tokens" : "max_completion_tokens";
    if (!v->is_number() || !json_fits<int64_t>(*v)) bad(name, "'" + name + "' must be an integer");
    const int64_t n = v->get<int64_t>();
    if (n < 1) bad(name, "'" + name + "' must be at least 1");
    if (n > limits.max_tokens)
      bad(name, "'" + name + "' is " + std::to_string(n) + ", more than this server's limit of " + std::to_string(limits.max_tokens));
    r.max_tokens = n;
  }
  r.sampling.temperature = 1.0f;
  if (const json* v = field(body, "temperature")) r.sampling.temperature = static_cast<float>(number(*v, "temperature", 0, 2));
  if (const json* v = field(body, "top_p")) {
    r.sampling.top_p = static_cast<float>(number(*v, "top_p", 0, 1));
    if (r.sampling.top_p <= 0) bad("top_p", "'top_p' must be greater than 0");
  }
  // top_k is vLLM's and llama.cpp's extension; -1 and 0 both mean off there.
  if (const json* v = field(body, "top_k")) r.sampling.top_k = static_cast<int32_t>(std::max<int64_t>(0, integer(*v, "top_k", -1, INT32_MAX)));
  if (const json* v = field(body, "seed")) r.seed = static_cast<uint64_t>(integer(*v, "seed", INT64_MIN, INT64_MAX));
  if (const json* v = field(body, "stop")) r.stop = stop_strings(*v);
  if (const json* v = field(body, "n"); v && integer(*v, "n", 1, 128) != 1) bad("n", "'n' must be 1: one choice per request");
  if (const json* v = field(body, "best_of"); v && integer(*v, "best_of", 1, 128) != 1) bad("best_of", "'best_of' must be 1");
  if (const json* v = field(body, "echo"); v && boolean(*v, "echo")) bad("echo", "'echo' is not supported");
  // Log-probabilities are not computed yet: say so rather than return none silently.
  if (const json* v = field(body, "logprobs")) {
    if (kind == CompletionKind::Chat ? boolean(*v, "logprobs") : integer(*v, "logprobs", 0, 20) > 0)
      bad("logprobs", "'logprobs' is not supported by this server yet");
  }
  if (const json* v = field(body, "stream")) r.stream = boolean(*v, "stream");
  if (const json* v = field(body, "stream_options")) {
    if (!r.stream) bad("stream_options", "'stream_options' is only allowed when 'stream' is true");
    if (!v->is_object()) bad("stream_options", "'stream_options' must be an object");
    if (const json* u = field(*v, "include_usage")) r.include_usage = boolean(*u, "stream_options.include_usage");
  }
  return r;
}

}  // namespace frugal
