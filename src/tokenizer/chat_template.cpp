#include "tokenizer/chat_template.h"

#include <optional>

#include "core/error.h"
#include "tokenizer/jinja_parser.h"
#include "tokenizer/jinja_render.h"
#include "tokenizer/vocab.h"

namespace frugal {

namespace {

constexpr const char* kWhere = "tokenizer.chat_template";

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

std::optional<ChatFormat> family_of(const std::string& tpl) {
  if (tpl.find("<|im_start|>") != std::string::npos) return ChatFormat::ChatML;
  if (tpl.find("<|start_header_id|>") != std::string::npos) return ChatFormat::Llama3;
  if (tpl.find("[INST]") != std::string::npos) return ChatFormat::Llama2;
  return std::nullopt;
}

// The built-in renderings, for templates our Jinja subset cannot read.
std::string render_native(ChatFormat format, const std::string& tpl, const std::vector<ChatMessage>& messages,
                          bool add_generation_prompt) {
  std::string out;
  switch (format) {
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

jinja::Value from_json(const nlohmann::json& j, const std::string& origin) {
  using jinja::Value;
  switch (j.type()) {
    case nlohmann::json::value_t::null: return Value::none();
    case nlohmann::json::value_t::boolean: return Value::from(j.get<bool>());
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return Value::from(j.get<int64_t>());
    case nlohmann::json::value_t::number_float: return Value::from(j.get<double>());
    case nlohmann::json::value_t::string: return Value::from(j.get<std::string>());
    case nlohmann::json::value_t::array: {
      jinja::List items;
      for (const auto& item : j) items.push_back(from_json(item, origin));
      return Value::make_list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      jinja::Dict d;
      for (const auto& [k, v] : j.items()) d.set(k, from_json(v, origin));
      return Value::make_dict(std::move(d));
    }
    default: fail(origin, kWhere, "a template variable has a type templates cannot use");
  }
}

std::string line_error(const jinja::JinjaError& e) { return "line " + std::to_string(e.line) + ": " + e.what(); }

void check_roles(const std::vector<ChatMessage>& messages, const std::string& origin) {
  for (const ChatMessage& m : messages)
    if (m.role != "system" && m.role != "user" && m.role != "assistant")
      fail(origin, "role", "unknown chat role '" + m.role + "' (system, user, assistant)");
}

}  // namespace

struct ChatTemplate::Impl {
  std::string source;
  std::string origin;
  std::optional<jinja::Template> parsed;  // empty when a built-in rendering stands in
  ChatFormat family = ChatFormat::ChatML;
};

ChatTemplate::ChatTemplate(const std::string& source, std::string origin) : impl_(std::make_unique<Impl>()) {
  impl_->source = source;
  impl_->origin = std::move(origin);
  if (source.empty()) fail(impl_->origin, kWhere, "the model has no chat template");
  try {
    impl_->parsed = jinja::parse(source);
  } catch (const jinja::JinjaError& e) {
    const std::optional<ChatFormat> family = family_of(source);
    if (!family) fail(impl_->origin, kWhere, line_error(e));
    impl_->family = *family;
  }
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

bool ChatTemplate::is_jinja() const { return impl_->parsed.has_value(); }

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, const ChatOptions& options) const {
  check_roles(messages, impl_->origin);
  if (!impl_->parsed) return render_native(impl_->family, impl_->source, messages, options.add_generation_prompt);
  using jinja::Value;
  // What transformers passes: the messages, tools and documents (None), add_generation_prompt,
  // the special tokens it has, and the caller's extra variables (which win over the rest).
  jinja::Dict vars;
  jinja::List list;
  for (const ChatMessage& m : messages) {
    jinja::Dict d;
    d.set("role", Value::from(m.role));
    d.set("content", Value::from(m.content));
    list.push_back(Value::make_dict(std::move(d)));
  }
  vars.set("messages", Value::make_list(std::move(list)));
  vars.set("tools", Value::none());
  vars.set("documents", Value::none());
  vars.set("add_generation_prompt", Value::from(options.add_generation_prompt));
  if (options.bos_token) vars.set("bos_token", Value::from(*options.bos_token));
  if (options.eos_token) vars.set("eos_token", Value::from(*options.eos_token));
  if (!options.variables.is_object()) fail(impl_->origin, kWhere, "template variables must be an object");
  for (const auto& [k, v] : options.variables.items()) vars.set(k, from_json(v, impl_->origin));
  jinja::RenderSettings settings;
  if (options.now) {
    settings.now = *options.now;
  } else {
    const std::time_t t = std::time(nullptr);
    localtime_r(&t, &settings.now);
  }
  try {
    return jinja::render(*impl_->parsed, vars, settings);
  } catch (const jinja::JinjaError& e) {
    fail(impl_->origin, kWhere, line_error(e));
  }
}

ChatOptions chat_options(const Vocab& vocab, bool add_generation_prompt) {
  ChatOptions o;
  o.add_generation_prompt = add_generation_prompt;
  auto token = [&](int32_t id) -> std::optional<std::string> {
    if (id < 0 || static_cast<size_t>(id) >= vocab.tokens.size()) return std::nullopt;
    return vocab.tokens[static_cast<size_t>(id)];
  };
  o.bos_token = token(vocab.bos_id);
  o.eos_token = token(vocab.eos_id);
  return o;
}

ChatFormat detect_chat_format(const std::string& tpl, const std::string& source) {
  if (const std::optional<ChatFormat> family = family_of(tpl)) return *family;
  if (tpl.empty()) fail(source, kWhere, "the model has no chat template");
  fail(source, kWhere, "unsupported chat template (known: ChatML, Llama 3, Llama 2)");
}

std::string render_chat(const std::string& tpl, const std::vector<ChatMessage>& messages, const ChatOptions& options,
                        const std::string& source) {
  return ChatTemplate(tpl, source).render(messages, options);
}

std::string render_chat(const std::string& tpl, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        const std::string& source) {
  ChatOptions o;
  o.add_generation_prompt = add_generation_prompt;
  return render_chat(tpl, messages, o, source);
}

}  // namespace frugal
