// Broken vocabularies and bad input text must fail with a frugal::Error naming the file and the
// field (or the byte), never crash or tokenize silently wrong.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "gguf_builder.h"
#include "format/gguf.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace frugal {
namespace {

using test::GgufBuilder;

// GGUF array values (type 9), which GgufBuilder has no helper for.
void kv_string_array(GgufBuilder& b, const std::string& key, const std::vector<std::string>& values) {
  b.put_string(key);
  b.put<uint32_t>(9);
  b.put<uint32_t>(8);
  b.put<uint64_t>(values.size());
  for (const std::string& v : values) b.put_string(v);
}
void kv_f32_array(GgufBuilder& b, const std::string& key, const std::vector<float>& values) {
  b.put_string(key);
  b.put<uint32_t>(9);
  b.put<uint32_t>(6);
  b.put<uint64_t>(values.size());
  for (float v : values) b.put<float>(v);
}
void kv_i32_array(GgufBuilder& b, const std::string& key, const std::vector<int32_t>& values) {
  b.put_string(key);
  b.put<uint32_t>(9);
  b.put<uint32_t>(5);
  b.put<uint64_t>(values.size());
  for (int32_t v : values) b.put<int32_t>(v);
}

// A tiny SPM vocabulary: <unk> <s> </s> a b ab ▁ ▁a, optionally broken by `edit`.
struct SpmFile {
  std::string model = "llama";
  std::vector<std::string> tokens = {"<unk>",
                                     "<s>",
                                     "</s>",
                                     "a",
                                     "b",
                                     "ab",
                                     "\xE2\x96\x81",
                                     "\xE2\x96\x81"
                                     "a"};
  std::vector<float> scores = {0, 0, 0, -1, -2, -3, -4, -5};
  std::vector<int32_t> types = {2, 3, 3, 1, 1, 1, 1, 1};
  bool with_tokens = true;
  uint32_t bos = 1;
  std::string pre;                  // tokenizer.ggml.pre, written when not empty
  std::vector<std::string> merges;  // tokenizer.ggml.merges, written when not empty

  std::string save(const std::string& name) const {
    GgufBuilder b;
    b.header(0, (with_tokens ? 6 : 5) + !pre.empty() + !merges.empty());
    b.kv_string("general.architecture", "llama");
    b.kv_string("tokenizer.ggml.model", model);
    if (!pre.empty()) b.kv_string("tokenizer.ggml.pre", pre);
    if (!merges.empty()) kv_string_array(b, "tokenizer.ggml.merges", merges);
    if (with_tokens) kv_string_array(b, "tokenizer.ggml.tokens", tokens);
    kv_f32_array(b, "tokenizer.ggml.scores", scores);
    kv_i32_array(b, "tokenizer.ggml.token_type", types);
    b.kv_u32("tokenizer.ggml.bos_token_id", bos);
    const std::string path = test::temp_path(name + ".gguf");
    b.save(path);
    return path;
  }
};

// The message of the Error that `load` throws; checks that it names `path` and `field`.
std::string error_of(const std::function<void()>& load, const std::string& path, const std::string& field) {
  try {
    load();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << "does not name the file: " << msg;
    EXPECT_NE(msg.find(field), std::string::npos) << "does not name " << field << ": " << msg;
    return msg;
  }
  ADD_FAILURE() << "no error for " << field;
  return "";
}

std::string gguf_error(const SpmFile& f, const std::string& name, const std::string& field) {
  const std::string path = f.save(name);
  return error_of([&] { Tokenizer t(vocab_from_gguf(GgufFile(path))); }, path, field);
}

TEST(TokenizerErrors, TheTinyGgufVocabularyWorks) {
  const std::string path = SpmFile().save("tok_good");
  const Tokenizer tok(vocab_from_gguf(GgufFile(path)));
  // "▁ab▁a": "ab" (score -3) merges before "▁a" (-5), which leaves the first "▁" alone.
  EXPECT_EQ(tok.encode("ab a", false, false), (std::vector<int32_t>{6, 5, 7}));
  EXPECT_EQ(tok.decode({6, 5, 7}), "ab a");
}

TEST(TokenizerErrors, BrokenGgufVocabularies) {
  SpmFile no_tokens;
  no_tokens.with_tokens = false;
  gguf_error(no_tokens, "tok_no_tokens", "tokenizer.ggml.tokens");

  SpmFile short_scores;
  short_scores.scores.pop_back();
  EXPECT_NE(gguf_error(short_scores, "tok_short_scores", "tokenizer.ggml.scores").find("has 7 entries"),
            std::string::npos);

  SpmFile short_types;
  short_types.types.pop_back();
  gguf_error(short_types, "tok_short_types", "tokenizer.ggml.token_type");

  SpmFile bad_type;
  bad_type.types[4] = 9;
  gguf_error(bad_type, "tok_bad_type", "tokenizer.ggml.token_type[4]");

  SpmFile bad_model;
  bad_model.model = "bert";
  gguf_error(bad_model, "tok_bad_model", "tokenizer.ggml.model");

  SpmFile gpt2_without_merges;
  gpt2_without_merges.model = "gpt2";
  gguf_error(gpt2_without_merges, "tok_no_merges", "tokenizer.ggml.merges");

  SpmFile unknown_pre;
  unknown_pre.model = "gpt2";
  unknown_pre.merges = {"a b"};
  unknown_pre.pre = "no-such-pre";
  EXPECT_NE(gguf_error(unknown_pre, "tok_unknown_pre", "tokenizer.ggml.pre").find("'no-such-pre' is unknown to llama.cpp"),
            std::string::npos);

  SpmFile bad_bos;
  bad_bos.bos = 8;
  gguf_error(bad_bos, "tok_bad_bos", "tokenizer.ggml.bos_token_id");

  SpmFile duplicate;
  duplicate.tokens[4] = "a";
  gguf_error(duplicate, "tok_duplicate", "tokens[4]");
}

TEST(TokenizerErrors, BrokenVocabStructs) {
  Vocab v;
  v.source = "made-up.gguf";
  v.kind = TokenizerKind::Bpe;
  v.pre = "gpt-2";
  v.tokens = {"a", "b", "ab"};
  v.merges = {"a b", "b c"};
  error_of([&] { Tokenizer t(v); }, "made-up.gguf", "merges[1]");
  v.merges = {"ab"};
  error_of([&] { Tokenizer t(v); }, "made-up.gguf", "merges[0]");
  v.merges = {"a b"};
  v.pre = "no-such-regex";
  error_of([&] { Tokenizer t(v); }, "made-up.gguf", "no-such-regex");
}

TEST(TokenizerErrors, TextThatIsNotUtf8) {
  const Tokenizer tok(vocab_from_gguf(GgufFile(SpmFile().save("tok_utf8"))));
  const std::vector<std::pair<std::string, size_t>> bad = {
      {std::string("ab\xFF", 3), 2},             // never valid
      {std::string("a\xC3", 2), 1},              // truncated sequence
      {std::string("ab\xC0\x80", 4), 2},         // overlong NUL
      {std::string("\xED\xA0\x80z", 4), 0},      // UTF-16 surrogate
      {std::string("x\xF4\x90\x80\x80", 5), 1},  // above U+10FFFF
      {std::string("\x80", 1), 0},               // stray continuation byte
  };
  for (const auto& [text, offset] : bad) {
    try {
      tok.encode(text, false, false);
      ADD_FAILURE() << "accepted invalid UTF-8 at byte " << offset;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), "tokenize: text is not valid UTF-8 at byte " + std::to_string(offset));
    }
  }
  EXPECT_NO_THROW(tok.encode("\xF0\x9F\xA6\x99 caf\xC3\xA9", false, false));
  EXPECT_THROW(tok.decode({8}), Error);
  EXPECT_THROW(tok.token_to_piece(-1), Error);
}

// Hugging Face folders: write tokenizer.json (and tokenizer_config.json) into a fresh directory.
std::string hf_dir(const std::string& name, const std::string& tokenizer_json, const std::string& config = "") {
  const std::string dir = test::temp_path(name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  if (!tokenizer_json.empty()) std::ofstream(dir + "/tokenizer.json") << tokenizer_json;
  if (!config.empty()) std::ofstream(dir + "/tokenizer_config.json") << config;
  return dir;
}

const char* kByteLevelJson = R"({
  "added_tokens": [{"id": 3, "content": "<|endoftext|>", "special": true}],
  "normalizer": null,
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
  "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "<|endoftext|>": 3}, "merges": ["a b"]}
})";

TEST(TokenizerErrors, BrokenHfFolders) {
  const std::string good = hf_dir("hf_good", kByteLevelJson, R"({"eos_token": "<|endoftext|>"})");
  const Tokenizer tok(vocab_from_hf_dir(good));
  EXPECT_EQ(tok.encode("abba<|endoftext|>", false, true), (std::vector<int32_t>{2, 1, 0, 3}));
  EXPECT_EQ(tok.eos_id(), 3);

  const std::string missing = hf_dir("hf_missing", "");
  error_of([&] { vocab_from_hf_dir(missing); }, missing + "/tokenizer.json", "cannot open");

  const std::string not_json = hf_dir("hf_not_json", "{\"model\": ");
  error_of([&] { vocab_from_hf_dir(not_json); }, not_json + "/tokenizer.json", "not valid JSON");

  std::string wordpiece = kByteLevelJson;
  wordpiece.replace(wordpiece.find("\"BPE\""), 5, "\"WordPiece\"");
  const std::string wp = hf_dir("hf_wordpiece", wordpiece);
  error_of([&] { vocab_from_hf_dir(wp); }, wp + "/tokenizer.json", "model.type");

  std::string odd_regex = kByteLevelJson;
  odd_regex.replace(
      odd_regex.find("{\"type\": \"ByteLevel\""),
      std::string("{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true}").size(),
      R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "use_regex": false}]})");
  // A regex no GGUF name stands for is read as a pipeline of its own; a component we lack fails.
  const std::string re = hf_dir("hf_regex", odd_regex);
  EXPECT_EQ(Tokenizer(vocab_from_hf_dir(re)).encode("ab ba", false, false), (std::vector<int32_t>{2, 1, 0}));
  std::string bert = odd_regex;
  bert.replace(bert.find("\"Split\""), 7, "\"BertPreTokenizer\"");
  const std::string bt = hf_dir("hf_bert_pre", bert);
  error_of([&] { vocab_from_hf_dir(bt); }, bt + "/tokenizer.json", "pre_tokenizer.pretokenizers[0]");

  const std::string bad_bos = hf_dir("hf_bad_bos", kByteLevelJson, R"({"bos_token": {"content": "<s>"}})");
  error_of([&] { vocab_from_hf_dir(bad_bos); }, bad_bos + "/tokenizer_config.json", "bos_token");

  std::string bad_merge = kByteLevelJson;
  bad_merge.replace(bad_merge.find("\"a b\""), 5, "\"a c\"");
  const std::string bm = hf_dir("hf_bad_merge", bad_merge);
  error_of([&] { Tokenizer t(vocab_from_hf_dir(bm)); }, bm + "/tokenizer.json", "merges[0]");
}

}  // namespace
}  // namespace frugal
