// Request bodies of the OpenAI API as the server reads them (serve/completion_request.h) and
// OpenAI's stop strings (serve/stop_strings.h).
#include <gtest/gtest.h>

#include "serve/api_error.h"
#include "serve/completion_request.h"
#include "serve/stop_strings.h"

namespace frugal {
namespace {

CompletionRequest chat(const std::string& body) { return parse_completion_request(body, CompletionKind::Chat, {}); }
CompletionRequest text(const std::string& body) { return parse_completion_request(body, CompletionKind::Text, {}); }

TEST(ServeRequest, ReadsEveryFieldOfAChatRequest) {
  const CompletionRequest r = chat(R"({"model": "tuned", "messages": [{"role": "developer", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]}],
      "max_completion_tokens": 12, "temperature": 0.5, "top_p": 0.9, "top_k": 40, "seed": 7, "stop": ["\n", "END"],
      "n": 1, "stream": true, "stream_options": {"include_usage": true}, "user": "ignored"})");
  EXPECT_EQ(r.model, "tuned");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[1].content, "Hi there");
  EXPECT_EQ(r.max_tokens, 12);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.9f);
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_EQ(r.seed, 7u);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
}

TEST(ServeRequest, DefaultsAreOpenAIs) {
  const CompletionRequest r = text(R"({"model": "m", "prompt": "Once", "stop": null, "seed": null})");
  EXPECT_EQ(r.prompt, "Once");
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_FLOAT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 1.0f);
  EXPECT_EQ(r.sampling.top_k, 0);
  EXPECT_FALSE(r.seed.has_value());
  EXPECT_FALSE(r.stream);
  EXPECT_TRUE(text(R"({"prompt": [1, 2, 3]})").prompt_is_tokens);
  EXPECT_EQ(text(R"({"prompt": ["one"]})").prompt, "one");
}

struct BadCase {
  CompletionKind kind;
  std::string body;
  int status;
  std::string param;  // "" when the error names none
};

TEST(ServeRequest, MalformedBodiesAreRefusedNamingTheField) {
  const CompletionKind C = CompletionKind::Chat, T = CompletionKind::Text;
  const std::string msg = R"("messages": [{"role": "user", "content": "hi"}])";
  const std::vector<BadCase> cases = {
      {C, "", 400, ""},
      {C, "{", 400, ""},
      {C, "[1, 2]", 400, ""},
      {C, "{\"messages\": [{\"role\": \"user\", \"content\": \"\xff\xfe\"}]}", 400, ""},  // invalid UTF-8
      {C, "{}", 400, "messages"},
      {C, R"({"messages": []})", 400, "messages"},
      {C, R"({"messages": "hi"})", 400, "messages"},
      {C, R"({"messages": [{"role": "user"}]})", 400, "messages[0].content"},
      {C, R"({"messages": [{"role": "wizard", "content": "x"}]})", 400, "messages[0].role"},
      {C, R"({"messages": [{"role": "user", "content": 5}]})", 400, "messages[0].content"},
      {C, R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", 400, "messages[0].content"},
      {C, "{" + msg + R"(, "model": 3})", 400, "model"},
      {C, "{" + msg + R"(, "max_tokens": "10"})", 400, "max_tokens"},
      {C, "{" + msg + R"(, "max_tokens": 0})", 400, "max_tokens"},
      {C, "{" + msg + R"(, "max_tokens": 1.5})", 400, "max_tokens"},
      {C, "{" + msg + R"(, "max_tokens": 1e300})", 400, "max_tokens"},
      {C, "{" + msg + R"(, "max_tokens": 99999999999999999999999})", 400, "max_tokens"},
      {C, "{" + msg + R"(, "max_tokens": 5000})", 400, "max_tokens"},  // over the limit (4096)
      {C, "{" + msg + R"(, "max_tokens": 5, "max_completion_tokens": 6})", 400, "max_completion_tokens"},
      {C, "{" + msg + R"(, "temperature": -1})", 400, "temperature"},
      {C, "{" + msg + R"(, "temperature": "hot"})", 400, "temperature"},
      {C, "{" + msg + R"(, "top_p": 0})", 400, "top_p"},
      {C, "{" + msg + R"(, "top_p": 1.5})", 400, "top_p"},
      {C, "{" + msg + R"(, "top_k": -2})", 400, "top_k"},
      {C, "{" + msg + R"(, "seed": 1e30})", 400, "seed"},
      {C, "{" + msg + R"(, "stop": 5})", 400, "stop"},
      {C, "{" + msg + R"(, "stop": ["a", "b", "c", "d", "e"]})", 400, "stop"},
      {C, "{" + msg + R"(, "stop": [""]})", 400, "stop"},
      {C, "{" + msg + R"(, "n": 2})", 400, "n"},
      {C, "{" + msg + R"(, "stream": "yes"})", 400, "stream"},
      {C, "{" + msg + R"(, "stream_options": {"include_usage": true}})", 400, "stream_options"},
      {C, "{" + msg + R"(, "logprobs": true})", 400, "logprobs"},
      {T, "{}", 400, "prompt"},
      {T, R"({"prompt": 5})", 400, "prompt"},
      {T, R"({"prompt": []})", 400, "prompt"},
      {T, R"({"prompt": ["a", "b"]})", 400, "prompt"},
      {T, R"({"prompt": [1, -1]})", 400, "prompt"},
      {T, R"({"prompt": "x", "echo": true})", 400, "echo"},
  };
  for (const BadCase& c : cases) {
    try {
      parse_completion_request(c.body, c.kind, {});
      ADD_FAILURE() << "accepted: " << c.body;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status, c.status) << c.body;
      EXPECT_EQ(e.param, c.param) << c.body << ": " << e.what();
      const nlohmann::json body = api_error_body(e);
      EXPECT_EQ(body["error"]["type"], "invalid_request_error");
      EXPECT_FALSE(body["error"]["message"].get<std::string>().empty());
    }
  }
}

TEST(ServeRequest, ErrorBodyHasOpenAIsFourFields) {
  const nlohmann::json b = api_error_body(ApiError(404, "no such model", "model", "model_not_found"));
  EXPECT_EQ(b, nlohmann::json::parse(R"({"error": {"message": "no such model", "type": "invalid_request_error",
                                                   "param": "model", "code": "model_not_found"}})"));
  const nlohmann::json k = api_error_body(401, "key");
  EXPECT_EQ(k["error"]["type"], "authentication_error");
  EXPECT_TRUE(k["error"]["param"].is_null());
  EXPECT_TRUE(k["error"]["code"].is_null());
}

std::string run_stops(std::vector<std::string> stops, const std::vector<std::string>& pieces, bool* stopped,
                      std::vector<std::string>* sent = nullptr) {
  StopStrings s(std::move(stops));
  std::string out;
  for (const std::string& p : pieces) {
    const std::string piece = s.push(p);
    if (sent) sent->push_back(piece);
    out += piece;
    if (s.stopped()) break;
  }
  out += s.flush();
  *stopped = s.stopped();
  return out;
}

TEST(ServeStopStrings, CutsBeforeTheFirstStopEvenAcrossPieces) {
  bool stopped = false;
  std::vector<std::string> sent;
  EXPECT_EQ(run_stops({"END"}, {"Hello E", "N", "D more"}, &stopped, &sent), "Hello ");
  EXPECT_TRUE(stopped);
  EXPECT_EQ(sent[0], "Hello ");  // "E" held back: it may start the stop string
  EXPECT_EQ(run_stops({"END", "lo"}, {"Hello END"}, &stopped), "Hel");  // the earliest stop wins
  EXPECT_EQ(run_stops({"END"}, {"Hello E", "ND"}, &stopped), "Hello ");
  EXPECT_EQ(run_stops({"END"}, {"Hello E", "x"}, &stopped), "Hello Ex");  // a false start is let out
  EXPECT_FALSE(stopped);
  EXPECT_EQ(run_stops({"END"}, {"tail E"}, &stopped), "tail E");  // the end of generation flushes
  EXPECT_EQ(run_stops({}, {"a", "b"}, &stopped), "ab");
}

}  // namespace
}  // namespace frugal
