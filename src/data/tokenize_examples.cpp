#include "data/tokenize_examples.h"

#include <optional>
#include <string_view>

#include "core/error.h"
#include "tokenizer/chat_template.h"

namespace frugal {

namespace {

// How a segment's tokens are labelled.
enum class Train {
  No,
  Yes,
  ThroughEndOfTurn,  // trained up to and including the first end-of-generation token, masked after
};

struct Segment {
  std::string text;
  Train train;
};

// Stanford Alpaca's prompts (tatsu-lab/stanford_alpaca), the format Alpaca-tuned models expect.
std::string alpaca_prompt(const Record& r) {
  if (r.input.empty())
    return "Below is an instruction that describes a task. Write a response that appropriately completes the "
           "request.\n\n### Instruction:\n" +
           r.instruction + "\n\n### Response:\n";
  return "Below is an instruction that describes a task, paired with an input that provides further context. "
         "Write a response that appropriately completes the request.\n\n### Instruction:\n" +
         r.instruction + "\n\n### Input:\n" + r.input + "\n\n### Response:\n";
}

bool is_special_type(TokenType t) {
  return t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown;
}

}  // namespace

struct ExampleBuilder::Impl {
  const Tokenizer* tok = nullptr;
  TokenizeOptions options;
  std::string chat_template;                // the one in use; "" when there is none
  std::optional<ChatTemplate> chat;         // chat_template parsed, when there is one
  std::string chat_error;                   // why it could not be, reported when a record needs it
  std::optional<Tokenizer> without_prefix;  // SPM with a space prefix only: the same vocab without it
  std::vector<std::string> special_texts;   // what parse_special cuts out of text (for without_prefix)

  bool is_special(int32_t id) const {
    const Vocab& v = tok->vocab();
    return !v.token_types.empty() && is_special_type(static_cast<TokenType>(v.token_types[id]));
  }

  // Tokens of `text` as they come out inside one longer string: `at_start` when nothing precedes it,
  // `after_special` when what precedes ends with a special token. Only
  // SentencePiece's space prefix depends on what precedes: tokenized on its own, the text's first
  // fragment would get a prefix that the whole string does not have there (it has it only at the
  // very start, or, for llama.cpp-style vocabularies, right after a special token). So the first
  // fragment (up to the first special token) goes through the prefix-free tokenizer and the rest
  // through the normal one, which prefixes the later fragments exactly as the whole string would.
  std::vector<int32_t> encode_after(std::string_view text, bool at_start, bool after_special) const {
    const Vocab& v = tok->vocab();
    const bool keep_prefix =
        at_start || !without_prefix || (after_special && v.space_prefix_rule != SpacePrefixRule::MetaspaceFirst);
    if (keep_prefix) return tok->encode(text, false, true);
    size_t cut = text.size();
    for (const std::string& s : special_texts) cut = std::min(cut, text.find(s));
    std::vector<int32_t> ids = without_prefix->encode(text.substr(0, cut), false, true);
    if (cut < text.size()) {
      const std::vector<int32_t> rest = tok->encode(text.substr(cut), false, true);
      ids.insert(ids.end(), rest.begin(), rest.end());
    }
    return ids;
  }

  Example encode(const std::vector<Segment>& segments, bool append_eos) const {
    Example ex;
    const Vocab& v = tok->vocab();
    bool after_special = true;
    for (const Segment& seg : segments) {
      const std::vector<int32_t> ids = encode_after(seg.text, ex.tokens.empty(), after_special);
      bool trained = seg.train != Train::No;
      for (int32_t id : ids) {
        ex.tokens.push_back(id);
        ex.labels.push_back(trained ? id : kIgnoreTarget);
        if (seg.train == Train::ThroughEndOfTurn && trained && tok->is_end_of_generation(id)) trained = false;
      }
      if (!ids.empty()) after_special = is_special(ids.back());
    }
    // A template may already start with BOS (Llama 2 and 3 ones do); never put it twice.
    if (v.add_bos && v.bos_id >= 0 && (ex.tokens.empty() || ex.tokens[0] != v.bos_id)) {
      ex.tokens.insert(ex.tokens.begin(), v.bos_id);
      ex.labels.insert(ex.labels.begin(), kIgnoreTarget);
    }
    if (append_eos && v.eos_id >= 0) {
      ex.tokens.push_back(v.eos_id);
      ex.labels.push_back(v.eos_id);
    }
    return ex;
  }

  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
    if (!chat) fail(chat_error.empty() ? "chat template: the model has no chat template" : chat_error);
    return chat->render(messages, chat_options(tok->vocab(), add_generation_prompt));
  }

  // Turn by turn: the text each message adds is the difference between renders of the conversation
  // up to it and up to the one before, so any template we render works without knowing its markup.
  // An assistant turn is split further: the header (what add_generation_prompt adds), the content,
  // and the rest (end-of-turn token and whatever follows it). Rendering is quadratic in the number
  // of turns, which is small.
  std::vector<Segment> chat_segments(const std::vector<ChatMessage>& messages) const {
    std::vector<Segment> segments;
    const bool all = options.train_on_inputs;
    std::string previous;
    std::vector<ChatMessage> upto;
    for (const ChatMessage& m : messages) {
      const std::vector<ChatMessage> before = upto;
      upto.push_back(m);
      std::string full = render(upto, false);
      if (!full.starts_with(previous))
        fail("chat template", "", "rendering one more message changed the text before it; cannot mask turn by turn");
      if (m.role != "assistant" || all) {
        segments.push_back({full.substr(previous.size()), all ? Train::Yes : Train::No});
        previous = std::move(full);
        continue;
      }
      std::string header_end = render(before, true);
      if (!header_end.starts_with(previous) || !full.starts_with(header_end)) header_end = previous;
      const std::string body = full.substr(header_end.size());
      const size_t at = m.content.empty() ? 0 : body.find(m.content);
      if (at == std::string::npos)
        fail("chat template", "", "cannot find the assistant's message in the rendered turn");
      // Text the template puts between the header and the content (Llama 2's space after [/INST])
      // is what the model emits first when it answers, so it is trained with the content.
      segments.push_back({header_end.substr(previous.size()), Train::No});
      segments.push_back({body.substr(0, at + m.content.size()), Train::Yes});
      segments.push_back({body.substr(at + m.content.size()), Train::ThroughEndOfTurn});
      previous = std::move(full);
    }
    return segments;
  }

  bool instruction_as_chat() const {
    switch (options.instruction_prompt) {
      case InstructionPrompt::Alpaca:
        return false;
      case InstructionPrompt::ChatTemplate:
        return true;
      case InstructionPrompt::Auto:
        return !chat_template.empty();
    }
    return false;
  }
};

ExampleBuilder::ExampleBuilder(const Tokenizer& tokenizer, TokenizeOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.tok = &tokenizer;
  m.options = std::move(options);
  const Vocab& v = tokenizer.vocab();
  m.chat_template = m.options.chat_template.empty() ? v.chat_template : m.options.chat_template;
  if (!m.chat_template.empty()) {
    try {
      m.chat.emplace(m.chat_template, v.source.empty() ? "chat template" : v.source);
    } catch (const Error& e) {
      m.chat_error = e.what();
    }
  }
  if (v.kind == TokenizerKind::Spm && v.add_space_prefix) {
    Vocab plain = v;
    plain.add_space_prefix = false;
    m.without_prefix.emplace(std::move(plain));
    for (size_t id = 0; id < v.tokens.size() && !v.token_types.empty(); ++id)
      if (is_special_type(static_cast<TokenType>(v.token_types[id])) && !v.tokens[id].empty())
        m.special_texts.push_back(v.tokens[id]);
  }
}

ExampleBuilder::~ExampleBuilder() = default;

Example ExampleBuilder::build(const Record& r, DatasetFormat format) const {
  const Impl& m = *impl_;
  switch (format) {
    case DatasetFormat::Text:
      return m.encode({{r.text, Train::Yes}}, true);
    case DatasetFormat::Instruction: {
      if (m.instruction_as_chat()) {
        const std::string user = r.input.empty() ? r.instruction : r.instruction + "\n\n" + r.input;
        return m.encode(m.chat_segments({{"user", user}, {"assistant", r.output}}), false);
      }
      const Train prompt = m.options.train_on_inputs ? Train::Yes : Train::No;
      return m.encode({{alpaca_prompt(r), prompt}, {r.output, Train::Yes}}, true);
    }
    case DatasetFormat::Chat:
      return m.encode(m.chat_segments(r.messages), false);
    case DatasetFormat::Auto:
      break;
  }
  fail("dataset", "", "the dataset format must be decided before tokenizing");
}

InstructionPrompt parse_instruction_prompt(const std::string& name) {
  if (name == "auto") return InstructionPrompt::Auto;
  if (name == "alpaca") return InstructionPrompt::Alpaca;
  if (name == "chat_template") return InstructionPrompt::ChatTemplate;
  fail("instruction_prompt", "", "'" + name + "' is not one of auto, alpaca, chat_template");
}

int64_t count_targets(const Example& ex) {
  int64_t n = 0;
  for (size_t i = 1; i < ex.labels.size(); ++i) n += ex.labels[i] != kIgnoreTarget;
  return n;
}

std::string describe(const TokenizeStats& s, int64_t sequence_len) {
  return std::to_string(s.records) + " records -> " + std::to_string(s.examples) + " examples (" +
         std::to_string(s.truncated) + " truncated to " + std::to_string(sequence_len) + " tokens, " +
         std::to_string(s.dropped) + " dropped: no trained token); " + std::to_string(s.tokens) + " tokens, " +
         std::to_string(s.targets) + " trained targets, longest " + std::to_string(s.longest);
}

TokenizedDataset tokenize_dataset(const Dataset& ds, const Tokenizer& tokenizer, const TokenizeOptions& options) {
  if (options.sequence_len < 2)
    fail("sequence_len", "", "must be at least 2, got " + std::to_string(options.sequence_len));
  const ExampleBuilder builder(tokenizer, options);
  const std::string& tpl = options.chat_template.empty() ? tokenizer.vocab().chat_template : options.chat_template;
  const bool needs_template =
      ds.format == DatasetFormat::Chat ||
      (ds.format == DatasetFormat::Instruction && options.instruction_prompt == InstructionPrompt::ChatTemplate);
  if (needs_template && tpl.empty())
    fail(ds.path, "", "this data needs a chat template and the model has none (set chat_template)");

  TokenizedDataset out;
  TokenizeStats& s = out.stats;
  s.records = static_cast<int64_t>(ds.records.size());
  for (const Record& r : ds.records) {
    Example ex;
    try {
      ex = builder.build(r, ds.format);
    } catch (const Error& e) {
      fail(ds.path, "line " + std::to_string(r.line), e.what());
    }
    const bool truncated = static_cast<int64_t>(ex.tokens.size()) > options.sequence_len;
    if (truncated) {
      ex.tokens.resize(options.sequence_len);
      ex.labels.resize(options.sequence_len);
    }
    const int64_t targets = count_targets(ex);
    if (targets == 0) {
      ++s.dropped;
      continue;
    }
    s.truncated += truncated;
    s.targets += targets;
    s.tokens += static_cast<int64_t>(ex.tokens.size());
    s.longest = std::max<int64_t>(s.longest, static_cast<int64_t>(ex.tokens.size()));
    out.examples.push_back(std::move(ex));
    out.lines.push_back(r.line);
  }
  s.examples = static_cast<int64_t>(out.examples.size());
  return out;
}

}  // namespace frugal
