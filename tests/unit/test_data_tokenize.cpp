// Records -> examples on real vocabularies: the Llama SentencePiece vocabulary (Alpaca prompts,
// Llama 2 chat), GPT-2's byte-level BPE, and SmolLM2's (ChatML, with <|im_start|> / <|im_end|>).
// Checked: which tokens are trained (prompt masked; response and the token that ends it trained),
// that segment-by-segment tokenization equals tokenizing the whole text at once, truncation and
// dropping counts, and errors naming the record's line.
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>

#include "core/error.h"
#include "data/pipeline.h"
#include "data/tokenize_examples.h"
#include "format/gguf.h"
#include "test_paths.h"
#include "tokenizer/chat_template.h"

namespace frugal {
namespace {

// SmolLM2-135M-Instruct's chat template exactly as in its tokenizer_config.json (Jinja source,
// so "\n" inside the quoted strings is a backslash and an n).
const std::string kSmolTemplate =
    R"TPL({% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %})TPL"
    R"TPL({{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }})TPL"
    R"TPL({% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}})TPL"
    R"TPL({% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})TPL";
const std::string kSmolSystem =
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n";
const std::string kGpteacher = "datasets/gpteacher-roleplay/roleplay-simple-deduped-roleplay-instruct.json";

const Tokenizer& spm() {
  static const Tokenizer t(vocab_from_gguf(GgufFile(test::data_file("vocab/ggml-vocab-llama-spm.gguf"))));
  return t;
}
const Tokenizer& gpt2() {
  static const Tokenizer t(vocab_from_gguf(GgufFile(test::data_file("vocab/ggml-vocab-gpt-2.gguf"))));
  return t;
}
const Tokenizer& smol() {
  static const Tokenizer t = [] {
    const std::string path = test::model_cache("SmolLM2-135M-Instruct.Q4_1.gguf");
    EXPECT_TRUE(std::filesystem::exists(path)) << path << " is missing: run scripts/fetch_model.sh";
    return Tokenizer(vocab_from_gguf(GgufFile(path)));
  }();
  return t;
}

std::string alpaca_prompt_no_input(const std::string& instruction) {
  return "Below is an instruction that describes a task. Write a response that appropriately completes the "
         "request.\n\n### Instruction:\n" +
         instruction + "\n\n### Response:\n";
}

Record instruction(std::string instr, std::string input, std::string output) {
  Record r;
  r.line = 1;
  r.instruction = std::move(instr);
  r.input = std::move(input);
  r.output = std::move(output);
  return r;
}

Record chat(std::vector<ChatMessage> messages) {
  Record r;
  r.line = 1;
  r.messages = std::move(messages);
  return r;
}

std::vector<int32_t> trained_ids(const Example& ex) {
  std::vector<int32_t> out;
  for (size_t i = 0; i < ex.labels.size(); ++i) {
    if (ex.labels[i] == kIgnoreTarget) continue;
    EXPECT_EQ(ex.labels[i], ex.tokens[i]) << "a trained label must be its token, at " << i;
    out.push_back(ex.labels[i]);
  }
  return out;
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(DataTokenize, TextIsBosTextEosAllTrained) {
  Record r;
  r.text = "Hello world";
  const Example ex = ExampleBuilder(spm(), {}).build(r, DatasetFormat::Text);
  // llama.cpp's test vector: "Hello world" -> 15043 3186; BOS 1 and EOS 2 around it.
  EXPECT_EQ(ex.tokens, (std::vector<int32_t>{1, 15043, 3186, 2}));
  EXPECT_EQ(ex.labels, (std::vector<int32_t>{kIgnoreTarget, 15043, 3186, 2}));

  const Example bpe = ExampleBuilder(gpt2(), {}).build(r, DatasetFormat::Text);
  EXPECT_EQ(bpe.tokens, (std::vector<int32_t>{15496, 995, 50256}));  // GPT-2 adds no BOS
  EXPECT_EQ(bpe.labels, bpe.tokens);
}

TEST(DataTokenize, AlpacaPromptMaskedResponseAndEosTrained) {
  for (const Tokenizer* tok : {&spm(), &gpt2()}) {
    const Example ex =
        ExampleBuilder(*tok, {}).build(instruction("Say hello.", "", "Hello world"), DatasetFormat::Instruction);
    const std::string prompt = alpaca_prompt_no_input("Say hello.");
    // The prompt is exactly what it is at inference time, tokenized alone.
    const std::vector<int32_t> prompt_ids = tok->encode(prompt, true, true);
    ASSERT_GT(ex.tokens.size(), prompt_ids.size() + 1);
    EXPECT_EQ(std::vector<int32_t>(ex.tokens.begin(), ex.tokens.begin() + prompt_ids.size()), prompt_ids);
    for (size_t i = 0; i < prompt_ids.size(); ++i) EXPECT_EQ(ex.labels[i], kIgnoreTarget) << i;
    for (size_t i = prompt_ids.size(); i < ex.tokens.size(); ++i) EXPECT_EQ(ex.labels[i], ex.tokens[i]) << i;
    const std::vector<int32_t> response(ex.tokens.begin() + prompt_ids.size(), ex.tokens.end() - 1);
    EXPECT_EQ(tok->decode(response), "Hello world");
    EXPECT_EQ(ex.tokens.back(), tok->eos_id());
    // And the concatenation is what tokenizing the whole text at once gives (no space prefix
    // sneaks in before "Hello" with SentencePiece).
    EXPECT_EQ(ex.tokens, concat(tok->encode(prompt + "Hello world", true, true), {tok->eos_id()}));
  }
}

TEST(DataTokenize, AlpacaWithInputAndTrainOnInputs) {
  TokenizeOptions o;
  o.train_on_inputs = true;
  const Example ex = ExampleBuilder(spm(), o).build(instruction("Add.", "2 and 3", "5"), DatasetFormat::Instruction);
  const std::string text = spm().decode(ex.tokens);
  EXPECT_NE(text.find("paired with an input"), std::string::npos) << text;
  EXPECT_NE(text.find("### Instruction:\nAdd.\n\n### Input:\n2 and 3\n\n### Response:\n5"), std::string::npos) << text;
  EXPECT_EQ(ex.labels[0], kIgnoreTarget);  // BOS is never a target
  for (size_t i = 1; i < ex.tokens.size(); ++i) EXPECT_EQ(ex.labels[i], ex.tokens[i]) << i;
}

TEST(DataTokenize, GpteacherSegmentsEqualWholeText) {
  DatasetOptions keys;
  keys.output_key = "response";
  const Dataset ds = load_dataset(test::data_file(kGpteacher), keys);
  for (const Tokenizer* tok : {&spm(), &gpt2()}) {
    const ExampleBuilder builder(*tok, {});
    int64_t checked = 0;
    for (size_t i = 0; i < ds.records.size(); i += 7) {
      const Record& r = ds.records[i];
      if (!r.input.empty()) continue;  // the no-input prompt is spelled out here; inputs are covered above
      const Example ex = builder.build(r, DatasetFormat::Instruction);
      const std::string prompt = alpaca_prompt_no_input(r.instruction);
      const std::vector<int32_t> prompt_ids = tok->encode(prompt, true, true);
      EXPECT_EQ(count_targets(ex), static_cast<int64_t>(ex.tokens.size() - prompt_ids.size())) << "record " << i;
      // Two answers start with a space: whole-text tokenization may merge it with the "\n" before,
      // and SentencePiece's decode drops a leading space, so those two are left out here.
      if (std::isspace(static_cast<unsigned char>(r.output[0]))) continue;
      EXPECT_EQ(ex.tokens, concat(tok->encode(prompt + r.output, true, true), {tok->eos_id()})) << "record " << i;
      const std::vector<int32_t> trained = trained_ids(ex);
      EXPECT_EQ(trained.back(), tok->eos_id());
      EXPECT_EQ(tok->decode(std::vector<int32_t>(trained.begin(), trained.end() - 1)), r.output) << "record " << i;
      ++checked;
    }
    EXPECT_GT(checked, 150);
  }
}

TEST(DataTokenize, ChatMlOnlyAssistantContentAndEndOfTurnTrained) {
  const Tokenizer& tok = smol();
  const int32_t im_start = tok.find_token("<|im_start|>"), im_end = tok.find_token("<|im_end|>");
  ASSERT_GE(im_start, 0);
  ASSERT_GE(im_end, 0);
  EXPECT_TRUE(tok.is_end_of_generation(im_end));
  const std::vector<ChatMessage> messages = {
      {"user", "What is 2+2?"}, {"assistant", "4"}, {"user", "And 3+3?"}, {"assistant", "It is 6."}};
  TokenizeOptions o;
  o.chat_template = kSmolTemplate;
  const Example ex = ExampleBuilder(tok, o).build(chat(messages), DatasetFormat::Chat);

  const std::string rendered = render_chat(kSmolTemplate, messages, false);
  ASSERT_TRUE(rendered.starts_with(kSmolSystem));  // the template's default system turn
  EXPECT_EQ(ex.tokens, tok.encode(rendered, false, true));

  const std::vector<int32_t> expected =
      concat(concat(tok.encode("4", false, false), {im_end}), concat(tok.encode("It is 6.", false, false), {im_end}));
  EXPECT_EQ(trained_ids(ex), expected);
  // Each trained run is preceded by "<|im_start|>assistant\n" and followed by a masked "\n".
  const std::vector<int32_t> header = tok.encode("<|im_start|>assistant\n", false, true);
  for (size_t i = 1; i < ex.tokens.size(); ++i) {
    if (ex.labels[i] != kIgnoreTarget && ex.labels[i - 1] == kIgnoreTarget) {
      ASSERT_GE(i, header.size());
      EXPECT_EQ(std::vector<int32_t>(ex.tokens.begin() + i - header.size(), ex.tokens.begin() + i), header);
    }
    if (ex.labels[i] == kIgnoreTarget && ex.labels[i - 1] != kIgnoreTarget) {
      EXPECT_EQ(ex.tokens[i - 1], im_end);
      EXPECT_EQ(tok.decode({ex.tokens[i]}), "\n");
    }
  }

  o.train_on_inputs = true;
  const Example all = ExampleBuilder(tok, o).build(chat(messages), DatasetFormat::Chat);
  EXPECT_EQ(all.tokens, ex.tokens);
  EXPECT_EQ(all.labels, all.tokens);  // SmolLM2 adds no BOS, so every token is trained
}

TEST(DataTokenize, ChatWithSystemTurnAndModelTemplate) {
  const Tokenizer& tok = smol();
  ASSERT_FALSE(tok.vocab().chat_template.empty());
  const std::vector<ChatMessage> messages = {
      {"system", "Answer in French."}, {"user", "Hello"}, {"assistant", "Bonjour"}};
  const Example ex = ExampleBuilder(tok, {}).build(chat(messages), DatasetFormat::Chat);
  EXPECT_EQ(ex.tokens, tok.encode(render_chat(tok.vocab().chat_template, messages, false), false, true));
  EXPECT_EQ(tok.decode(trained_ids(ex), true), "Bonjour<|im_end|>");
}

TEST(DataTokenize, InstructionAsChatTurnsWhenTheModelHasATemplate) {
  const Tokenizer& tok = smol();
  const Record r = instruction("Add the numbers.", "2 and 3", "The sum is 5.");
  const Example ex = ExampleBuilder(tok, {}).build(r, DatasetFormat::Instruction);  // Auto -> chat template
  const std::string rendered = render_chat(
      tok.vocab().chat_template, {{"user", "Add the numbers.\n\n2 and 3"}, {"assistant", "The sum is 5."}}, false);
  EXPECT_EQ(ex.tokens, tok.encode(rendered, false, true));
  EXPECT_EQ(tok.decode(trained_ids(ex), true), "The sum is 5.<|im_end|>");

  TokenizeOptions alpaca;
  alpaca.instruction_prompt = InstructionPrompt::Alpaca;
  const Example plain = ExampleBuilder(tok, alpaca).build(r, DatasetFormat::Instruction);
  EXPECT_NE(tok.decode(plain.tokens).find("### Response:\nThe sum is 5."), std::string::npos);
  EXPECT_EQ(tok.decode(trained_ids(plain), true), "The sum is 5." + tok.token_to_piece(tok.eos_id(), true));
}

TEST(DataTokenize, Llama2ChatOnSentencePiece) {
  // Llama-2-chat's template; <s> and </s> are control tokens of this vocabulary, and the template
  // writes them through bos_token and eos_token.
  const std::string tpl =
      R"TPL({% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %})TPL"
      R"TPL({% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %})TPL"
      R"TPL({% set system_message = false %}{% endif %}{% for message in loop_messages %})TPL"
      R"TPL({% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %})TPL"
      R"TPL({{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %})TPL"
      R"TPL({% if loop.index0 == 0 and system_message != false %})TPL"
      R"TPL({% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %})TPL"
      R"TPL({% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %})TPL"
      R"TPL({{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %})TPL"
      R"TPL({{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %})TPL";
  TokenizeOptions o;
  o.chat_template = tpl;
  const std::vector<ChatMessage> messages = {{"user", "Hi there"}, {"assistant", "Hello friend"}};
  const Example ex = ExampleBuilder(spm(), o).build(chat(messages), DatasetFormat::Chat);
  const std::string rendered = render_chat(tpl, messages, chat_options(spm().vocab(), false));
  EXPECT_EQ(rendered, "<s>[INST] Hi there [/INST] Hello friend </s>");
  EXPECT_EQ(ex.tokens, spm().encode(rendered, false, true));  // one BOS: the template's
  EXPECT_EQ(ex.tokens[0], 1);
  const std::vector<int32_t> trained = trained_ids(ex);
  ASSERT_FALSE(trained.empty());
  EXPECT_EQ(trained.back(), 2);  // </s> ends the answer and is trained
  EXPECT_EQ(spm().decode(std::vector<int32_t>(trained.begin(), trained.end() - 1)), "Hello friend ");
  EXPECT_EQ(spm().decode(trained, true).find("Hi"), std::string::npos);
}

TEST(DataTokenize, TruncationAndDroppingAreCounted) {
  Dataset ds;
  ds.path = "d.jsonl";
  ds.format = DatasetFormat::Text;
  Record short_text, long_text;
  short_text.line = 1;
  short_text.text = "Hello world";  // BOS + 2 + EOS
  long_text.line = 2;
  long_text.text = "Hello world Hello world Hello world Hello world";  // BOS + 8 + EOS
  ds.records = {short_text, long_text};
  TokenizeOptions o;
  o.sequence_len = 8;
  const TokenizedDataset out = tokenize_dataset(ds, spm(), o);
  EXPECT_EQ(out.stats.records, 2);
  EXPECT_EQ(out.stats.examples, 2);
  EXPECT_EQ(out.stats.truncated, 1);
  EXPECT_EQ(out.stats.dropped, 0);
  ASSERT_EQ(out.examples.size(), 2u);
  EXPECT_EQ(out.examples[1].tokens.size(), 8u);
  EXPECT_EQ(out.examples[1].tokens,
            (std::vector<int32_t>{1, 15043, 3186, 15043, 3186, 15043, 3186, 15043}));  // the start is kept
  EXPECT_EQ(out.stats.tokens, 12);
  EXPECT_EQ(out.stats.targets, 3 + 7);
  EXPECT_EQ(out.stats.longest, 8);
  EXPECT_EQ(out.lines, (std::vector<int64_t>{1, 2}));

  // An instruction whose prompt alone fills sequence_len has nothing left to train: dropped, not
  // counted as truncated. So is a conversation without an assistant turn.
  Dataset inst;
  inst.path = "i.jsonl";
  inst.format = DatasetFormat::Instruction;
  inst.records = {instruction("Say hello.", "", "Hello"), instruction("Hi", "", "Yo")};
  inst.records[1].line = 2;
  o.sequence_len = 30;
  const TokenizedDataset cut = tokenize_dataset(inst, spm(), o);
  EXPECT_EQ(cut.stats.dropped, 2);
  EXPECT_EQ(cut.stats.examples, 0);
  EXPECT_EQ(cut.stats.truncated, 0);
  EXPECT_NE(describe(cut.stats, 30).find("2 dropped"), std::string::npos);

  Dataset conv;
  conv.path = "c.jsonl";
  conv.format = DatasetFormat::Chat;
  conv.records = {chat({{"user", "anyone there?"}}), chat({{"user", "Hi"}, {"assistant", "Hello"}})};
  TokenizeOptions co;
  co.chat_template = kSmolTemplate;
  const TokenizedDataset c = tokenize_dataset(conv, smol(), co);
  EXPECT_EQ(c.stats.dropped, 1);
  EXPECT_EQ(c.stats.examples, 1);
}

TEST(DataTokenize, ErrorsNameTheFileAndLine) {
  Dataset ds;
  ds.path = "d.jsonl";
  ds.format = DatasetFormat::Text;
  Record bad;
  bad.line = 7;
  bad.text = "ok \xC3\x28";  // not UTF-8 (only a hand-made record can carry this; JSON rejects it)
  ds.records = {bad};
  try {
    tokenize_dataset(ds, spm(), {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_TRUE(std::string(e.what()).starts_with("d.jsonl: line 7: ")) << e.what();
  }

  Dataset conv;
  conv.path = "c.jsonl";
  conv.format = DatasetFormat::Chat;
  conv.records = {chat({{"user", "Hi"}, {"assistant", "Hello"}})};
  try {
    tokenize_dataset(conv, spm(), {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "c.jsonl: this data needs a chat template and the model has none (set chat_template)");
  }
  TokenizeOptions tiny;
  tiny.sequence_len = 1;
  EXPECT_THROW(tokenize_dataset(conv, spm(), tiny), Error);
  EXPECT_EQ(parse_instruction_prompt("chat_template"), InstructionPrompt::ChatTemplate);
  EXPECT_THROW(parse_instruction_prompt("vicuna"), Error);
}

TEST(DataTokenize, WholeGpteacherFile) {
  DatasetOptions keys;
  keys.output_key = "response";
  const Dataset ds = load_dataset(test::data_file(kGpteacher), keys);
  TokenizeOptions o;
  o.sequence_len = 256;
  o.instruction_prompt = InstructionPrompt::Alpaca;
  const TokenizedDataset out = tokenize_dataset(ds, spm(), o);
  EXPECT_EQ(out.stats.records, 1923);
  EXPECT_EQ(out.stats.examples + out.stats.dropped, 1923);
  EXPECT_GT(out.stats.truncated, 0);  // GPT-4 role-play answers often run past 256 tokens
  int64_t truncated = 0, targets = 0;
  for (const Example& ex : out.examples) {
    ASSERT_LE(ex.tokens.size(), 256u);
    ASSERT_EQ(ex.labels.size(), ex.tokens.size());
    truncated += ex.tokens.back() != spm().eos_id();
    targets += count_targets(ex);
  }
  EXPECT_EQ(truncated, out.stats.truncated);
  EXPECT_EQ(targets, out.stats.targets);

  DataOptions d;
  d.dataset = test::data_file(kGpteacher);
  d.records = keys;
  d.tokenize = o;
  d.val_set_size = 0.05;
  const PreparedData p = prepare_data(d, spm());
  EXPECT_EQ(p.format, DatasetFormat::Instruction);
  EXPECT_EQ(p.stats.examples, out.stats.examples);
  EXPECT_EQ(static_cast<int64_t>(p.validation.size()), (out.stats.examples * 5 + 99) / 100);
  EXPECT_EQ(static_cast<int64_t>(p.train.size() + p.validation.size()), out.stats.examples);
  EXPECT_NE(p.summary.find("1923 records"), std::string::npos) << p.summary;
  d.val_dataset = d.dataset;
  EXPECT_THROW(prepare_data(d, spm()), Error);  // both a file and a size
}

}  // namespace
}  // namespace frugal
