// The server's routes in-process (serve/api.h), on stories260K with two adapters: statuses, OpenAI's
// JSON and stream shapes, and that a request's adapter is the one its `model` names.
#include <gtest/gtest.h>

#include "infer/generate.h"
#include "lora_test_util.h"
#include "model/model.h"
#include "serve/api.h"
#include "test_paths.h"

namespace frugal {
namespace {

using nlohmann::json;

const char* kChatML =
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

class ServeApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = load_model(test::data_file("stories260K/stories260K.bin"), test::data_file("stories260K/tok512.bin"));
    EngineOptions eo;
    eo.base_id = "base";
    eo.chat_template = kChatML;
    eo.chat_template_origin = "test template";
    engine_ = std::make_unique<GenerationEngine>(*model_, eo);
    engine_->add_adapter("tuned-a", test::random_lora(model_->config, 0.05f, 21));
    engine_->add_adapter("tuned-b", test::random_lora(model_->config, 0.05f, 22));
    ApiOptions ao;
    ao.api_key = "sekrit";
    ao.max_body_bytes = 4096;
    ao.limits.max_tokens = 100;
    api_ = std::make_unique<ServeApi>(*engine_, ao);
  }
  HttpReply post(const std::string& path, const std::string& body, const std::string& key = "Bearer sekrit") {
    return api_->handle("POST", path, key, body);
  }
  std::string stream_text(const HttpReply& r, std::vector<json>* chunks = nullptr) {
    std::string all;
    r.stream([&](const std::string& s) {
      all += s;
      return true;
    });
    std::string text;
    size_t at = 0;
    while ((at = all.find("data: ", at)) != std::string::npos) {
      const size_t end = all.find("\n\n", at);
      const std::string data = all.substr(at + 6, end - at - 6);
      at = end;
      if (data == "[DONE]") {
        EXPECT_EQ(end + 2, all.size()) << "[DONE] is the last event";
        break;
      }
      const json chunk = json::parse(data);
      if (chunks) chunks->push_back(chunk);
      for (const json& c : chunk["choices"])
        if (c.contains("delta") && c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
        else if (c.contains("text")) text += c["text"].get<std::string>();
    }
    return text;
  }
  std::unique_ptr<Model> model_;
  std::unique_ptr<GenerationEngine> engine_;
  std::unique_ptr<ServeApi> api_;
};

TEST_F(ServeApiTest, ModelsListsTheBaseAndEachAdapter) {
  const HttpReply r = api_->handle("GET", "/v1/models", "Bearer sekrit", "");
  ASSERT_EQ(r.status, 200);
  const json j = json::parse(r.body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 3u);
  EXPECT_EQ(j["data"][0]["id"], "base");
  EXPECT_EQ(j["data"][1]["id"], "tuned-a");
  EXPECT_EQ(j["data"][2]["parent"], "base");
}

TEST_F(ServeApiTest, EachModelIdGivesItsAdaptersGreedyText) {
  const std::vector<int32_t> prompt = model_->tokenizer->encode("Lily saw", true, false);
  GenerateOptions g;
  g.max_new_tokens = 20;
  std::vector<std::string> texts;
  for (const std::string id : {"base", "tuned-a", "tuned-b"}) {
    const HttpReply r = post("/v1/completions", R"({"model": ")" + id + R"(", "prompt": "Lily saw", "max_tokens": 20, "temperature": 0})");
    ASSERT_EQ(r.status, 200) << r.body;
    const json j = json::parse(r.body);
    EXPECT_EQ(j["object"], "text_completion");
    EXPECT_EQ(j["model"], id);
    const std::shared_ptr<const LoraAdapter> adapter = engine_->adapter_for(id);
    g.adapter = adapter.get();
    std::string want_text;  // as `frugal generate` prints it
    const GenerateResult want = generate(*model_, prompt, g, [&](const std::string& t) {
      want_text += t;
      return true;
    });
    EXPECT_EQ(j["choices"][0]["text"], want_text) << id;
    EXPECT_EQ(j["usage"]["completion_tokens"], want.tokens.size());
    EXPECT_EQ(j["usage"]["prompt_tokens"], prompt.size());
    texts.push_back(j["choices"][0]["text"]);
  }
  EXPECT_NE(texts[0], texts[1]);
  EXPECT_NE(texts[1], texts[2]);
}

TEST_F(ServeApiTest, StreamedChatEqualsTheWholeReplyAndEndsWithUsageAndDone) {
  const std::string msgs = R"("model": "tuned-a", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 16, "temperature": 0)";
  const HttpReply whole = post("/v1/chat/completions", "{" + msgs + "}");
  ASSERT_EQ(whole.status, 200) << whole.body;
  const json w = json::parse(whole.body);
  EXPECT_EQ(w["object"], "chat.completion");
  EXPECT_EQ(w["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(w["choices"][0]["finish_reason"], "length");

  const HttpReply streamed = post("/v1/chat/completions", "{" + msgs + R"(, "stream": true, "stream_options": {"include_usage": true}})");
  ASSERT_EQ(streamed.status, 200);
  EXPECT_EQ(streamed.content_type, "text/event-stream");
  ASSERT_TRUE(streamed.stream);
  std::vector<json> chunks;
  EXPECT_EQ(stream_text(streamed, &chunks), w["choices"][0]["message"]["content"]);
  ASSERT_GE(chunks.size(), 3u);
  EXPECT_EQ(chunks.front()["choices"][0]["delta"]["role"], "assistant");
  for (const json& c : chunks) EXPECT_EQ(c["object"], "chat.completion.chunk");
  EXPECT_EQ(chunks[chunks.size() - 2]["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(chunks.back()["choices"].empty());
  EXPECT_EQ(chunks.back()["usage"], w["usage"]);
}

TEST_F(ServeApiTest, StopStringEndsTheTextBeforeIt) {
  const HttpReply full = post("/v1/completions", R"({"prompt": "Lily saw", "max_tokens": 30, "temperature": 0})");
  const std::string text = json::parse(full.body)["choices"][0]["text"];
  const size_t dot = text.find('.');
  ASSERT_NE(dot, std::string::npos) << text;
  const HttpReply cut = post("/v1/completions", R"({"prompt": "Lily saw", "max_tokens": 30, "temperature": 0, "stop": "."})");
  const json j = json::parse(cut.body);
  EXPECT_EQ(j["choices"][0]["text"], text.substr(0, dot));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
}

TEST_F(ServeApiTest, StatusesForKeyModelRouteSizeAndContext) {
  EXPECT_EQ(api_->handle("GET", "/health", "", "").status, 200);  // no key needed
  EXPECT_EQ(api_->handle("GET", "/v1/models", "", "").status, 401);
  EXPECT_EQ(api_->handle("GET", "/v1/models", "Bearer wrong!", "").status, 401);
  EXPECT_EQ(api_->handle("GET", "/v1/models", "sekrit", "").status, 401);
  const HttpReply unknown = post("/v1/completions", R"({"model": "nope", "prompt": "x"})");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(json::parse(unknown.body)["error"]["code"], "model_not_found");
  EXPECT_EQ(post("/v1/nothing", "{}").status, 404);
  EXPECT_EQ(api_->handle("GET", "/v1/completions", "Bearer sekrit", "").status, 405);
  EXPECT_EQ(post("/v1/completions", std::string(5000, ' ')).status, 413);
  // stories260K's context is 512 tokens: a prompt plus max_tokens beyond it is refused up front.
  std::string long_prompt;
  for (int i = 0; i < 200; ++i) long_prompt += "Lily saw a ball. ";
  const HttpReply too_long = post("/v1/completions", R"({"prompt": ")" + long_prompt + R"(", "max_tokens": 100})");
  EXPECT_EQ(too_long.status, 400);
  EXPECT_EQ(json::parse(too_long.body)["error"]["code"], "context_length_exceeded");
  // The API keeps answering after every error.
  EXPECT_EQ(post("/v1/completions", R"({"prompt": "x", "max_tokens": 2})").status, 200);
}

TEST_F(ServeApiTest, TokenizeDetokenizeAndMetrics) {
  const HttpReply t = post("/tokenize", R"({"content": "Lily saw"})");
  ASSERT_EQ(t.status, 200);
  const std::vector<int32_t> ids = json::parse(t.body)["tokens"];
  EXPECT_EQ(ids, model_->tokenizer->encode("Lily saw", true, false));
  const HttpReply d = post("/detokenize", json{{"tokens", ids}}.dump());
  EXPECT_EQ(json::parse(d.body)["content"], "Lily saw");
  EXPECT_EQ(post("/detokenize", R"({"tokens": [99999]})").status, 400);
  post("/v1/completions", R"({"prompt": "Lily saw", "max_tokens": 3, "temperature": 0})");
  const std::string m = api_->handle("GET", "/metrics", "Bearer sekrit", "").body;
  EXPECT_NE(m.find("frugal_requests_total{route=\"/tokenize\",status=\"200\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("frugal_requests_total{route=\"/detokenize\",status=\"400\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("frugal_generation_tokens_total 3"), std::string::npos) << m;
  EXPECT_NE(m.find("frugal_prompt_tokens_total " + std::to_string(ids.size())), std::string::npos) << m;
}

}  // namespace
}  // namespace frugal
