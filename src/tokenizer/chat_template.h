// Renders chat messages into the prompt format a model was trained on. Model templates are Jinja;
// rather than a Jinja engine we recognise the common families by their markers and render them
// natively, failing clearly on a template we do not know.
#pragma once
#include <string>
#include <vector>

namespace frugal {

struct ChatMessage {
  std::string role;  // "system" | "user" | "assistant"
  std::string content;
};

enum class ChatFormat { ChatML, Llama3, Llama2 };

// Which family the template belongs to; fails naming `source` when there is none we know.
ChatFormat detect_chat_format(const std::string& template_source, const std::string& source);

// The rendered conversation; add_generation_prompt appends the header of an assistant turn.
std::string render_chat(const std::string& template_source, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt, const std::string& source = "chat template");

}  // namespace frugal
