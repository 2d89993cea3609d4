#include "tokenizer/chat_template.h"

#include "core/error.h"

namespace frugal {

namespace {

// SmolLM2-style ChatML templates insert a default system turn when the conversation has none;
// its text sits in the template between the system header and <|im_end|>.
std::string default_chatml_system(const std::string& tpl) {
  if (tpl.find("messages[0]['role'] != 'system'") == std::string::npos) return "";
  // The newline inside the Jinja string literal is an escape ("\n") in tokenizer_config.json but a
  // real newline in GGUF files converted from it.
  size_t at = std::string::npos;
  for (const std::string header : {"<|im_start|>system\\n", "<|im_start|>system\n"}) {
    at = tpl.find(header);
    if (at != std::string::npos) {
      at += header.size();
      break;
    }
  }
  if (at == std::string::npos) return "";
  size_t end = tpl.find("<|im_end|>", at);
  return end == std::string::npos ? "" : tpl.substr(at, end - at);
}

}  // namespace

ChatFormat detect_chat_format(const std::string& tpl, const std::string& source) {
  if (tpl.find("<|im_start|>") != std::string::npos) return ChatFormat::ChatML;
  if (tpl.find("<|start_header_id|>") != std::string::npos) return ChatFormat::Llama3;
  if (tpl.find("[INST]") != std::string::npos) return ChatFormat::Llama2;
  if (tpl.empty()) fail(source, "tokenizer.chat_template", "the model has no chat template");
  fail(source, "tokenizer.chat_template", "unsupported chat template (known: ChatML, Llama 3, Llama 2)");
}

std::string render_chat(const std::string& tpl, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        const std::string& source) {
  for (const ChatMessage& m : messages)
    if (m.role != "system" && m.role != "user" && m.role != "assistant")
      fail(source, "role", "unknown chat role '" + m.role + "' (system, user, assistant)");
  std::string out;
  switch (detect_chat_format(tpl, source)) {
    case ChatFormat::ChatML: {
      const std::string system = default_chatml_system(tpl);
      if (!system.empty() && (messages.empty() || messages[0].role != "system"))
        out += "<|im_start|>system\n" + system + "<|im_end|>\n";
      for (const ChatMessage& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      if (add_generation_prompt) out += "<|im_start|>assistant\n";
      break;
    }
    case ChatFormat::Llama3: {
      out += "<|begin_of_text|>";
      for (const ChatMessage& m : messages)
        out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + m.content + "<|eot_id|>";
      if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
    }
    case ChatFormat::Llama2: {
      std::string system;
      size_t i = 0;
      if (!messages.empty() && messages[0].role == "system") system = messages[i++].content;
      for (; i < messages.size(); ++i) {
        const ChatMessage& m = messages[i];
        if (m.role == "user") {
          std::string content = m.content;
          if (!system.empty()) {
            content = "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content;
            system.clear();
          }
          out += "<s>[INST] " + content + " [/INST]";
        } else if (m.role == "assistant") {
          out += " " + m.content + " </s>";
        }
      }
      break;
    }
  }
  return out;
}

}  // namespace frugal
