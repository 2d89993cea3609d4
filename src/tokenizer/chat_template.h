// Renders chat messages into the prompt format a model was trained on, by running the model's own
// Jinja chat template (GGUF tokenizer.chat_template, HF chat_template) the way transformers'
// apply_chat_template does (tokenizer/jinja_*.h). A template that uses a construct we do not
// support fails with one line naming it and its line in the template; only then, when the template
// is recognisably ChatML, Llama 3 or Llama 2 (by its markers), the built-in rendering of that
// family is used instead, as frugal did before it read Jinja.
#pragma once
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace frugal {

struct Vocab;

struct ChatMessage {
  std::string role;  // "system" | "user" | "assistant"
  std::string content;
};

enum class ChatFormat { ChatML, Llama3, Llama2 };

// What a template sees besides the messages.
struct ChatOptions {
  bool add_generation_prompt = false;        // append the header of an assistant turn
  std::optional<std::string> bos_token;      // undefined in the template when absent
  std::optional<std::string> eos_token;
  nlohmann::json variables = nlohmann::json::object();  // extra variables, e.g. {"enable_thinking": false}
  std::optional<std::tm> now;                // strftime_now's clock; default: local time now
};

// bos_token / eos_token from the vocabulary's special tokens.
ChatOptions chat_options(const Vocab& vocab, bool add_generation_prompt);

// A template parsed once and rendered many times. `origin` names the file for error messages.
class ChatTemplate {
 public:
  ChatTemplate(const std::string& source, std::string origin);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  std::string render(const std::vector<ChatMessage>& messages, const ChatOptions& options) const;
  bool is_jinja() const;  // false when the built-in rendering of a family stands in

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Which family the template belongs to; fails naming `source` when there is none we know.
ChatFormat detect_chat_format(const std::string& template_source, const std::string& source);

// The rendered conversation (one-off: parses the template each call).
std::string render_chat(const std::string& template_source, const std::vector<ChatMessage>& messages,
                        const ChatOptions& options, const std::string& source = "chat template");
// The same without special tokens or extra variables.
std::string render_chat(const std::string& template_source, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt, const std::string& source = "chat template");

}  // namespace frugal
