// Generated tokenizer.json files: llama.cpp's vocabularies (GGUF) written as Hugging Face tokenizer
// folders must still give the ids Hugging Face's own tokenizers gave for llama.cpp's test cases
// (tests/data/vocab/*.inp / .out), after reading them back through our tokenizer.json loader.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/export_model.h"
#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "test_paths.h"
#include "vocab_vectors.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

class GeneratedTokenizerJson : public ::testing::TestWithParam<std::string> {};

TEST_P(GeneratedTokenizerJson, GivesTheReferenceIds) {
  const std::string name = GetParam();
  const std::string base = test::data_file("vocab/ggml-vocab-" + name + ".gguf");
  const Vocab original = vocab_from_gguf(GgufFile(base));
  const std::string dir = std::string(::testing::TempDir()) + "frugal_export_tok_" + name;
  fs::create_directories(dir);
  write_file_atomically(dir + "/tokenizer.json", hf_tokenizer_json(original));
  write_file_atomically(dir + "/tokenizer_config.json", hf_tokenizer_config_json(original, 4096));

  const Vocab vocab = vocab_from_hf_dir(dir);
  EXPECT_EQ(vocab.kind, original.kind);
  // Names may differ (starcoder / smollm); the regexes may not.
  EXPECT_EQ(find_pre_tokenizer(vocab.pre)->regexes, find_pre_tokenizer(original.pre)->regexes);
  EXPECT_EQ(vocab.bos_id, original.bos_id);
  EXPECT_EQ(vocab.eos_id, original.eos_id);
  EXPECT_EQ(vocab.add_bos, original.add_bos);
  EXPECT_EQ(vocab.tokens, original.tokens);
  const Tokenizer tok(vocab);
  const auto cases = test::read_vocab_cases(base + ".inp");
  const auto expected = test::read_vocab_expected(base + ".out");
  ASSERT_EQ(cases.size(), expected.size());
  ASSERT_GT(cases.size(), 40u);
  for (size_t i = 0; i < cases.size(); ++i)
    EXPECT_EQ(tok.encode(cases[i], false, false), expected[i]) << name << " case " << i << ": '" << cases[i] << "'";
  // With specials: BOS as the vocabulary says, added by tokenizer_config.json and the post-processor.
  const nlohmann::json j = nlohmann::json::parse(test::read_file(dir + "/tokenizer.json"));
  EXPECT_EQ(j["post_processor"]["single"].size(), original.add_bos ? 2u : 1u);
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, GeneratedTokenizerJson, ::testing::Values("llama-spm", "gpt-2", "starcoder"));

TEST(GeneratedTokenizerJson, SpmMergesFollowScores) {
  Vocab v;
  v.kind = TokenizerKind::Spm;
  v.tokens = {"<unk>", "a", "b", "c", "ab", "bc", "abc", "\xE2\x96\x81", "\xE2\x96\x81" "a"};
  v.scores = {0, -10, -10, -10, -2, -1, -3, -10, -0.5f};
  v.token_types = {2, 1, 1, 1, 1, 1, 1, 1, 1};
  const auto merges = spm_merges(v);
  // By score: "▁a" (-0.5), "bc" (-1), "ab" (-2), then "abc" (-3) split after one then two characters.
  const std::vector<std::pair<std::string, std::string>> want = {
      {"\xE2\x96\x81", "a"}, {"b", "c"}, {"a", "b"}, {"a", "bc"}, {"ab", "c"}};
  EXPECT_EQ(merges, want);
  v.merges = {"\xE2\x96\x81 a", "b c", "a b", "a bc", "ab c"};
  const std::vector<float> scores = spm_scores_from_merges(v);
  EXPECT_EQ(scores[8], 0.0f);
  EXPECT_EQ(scores[5], -1.0f);
  EXPECT_EQ(scores[4], -2.0f);
  EXPECT_EQ(scores[6], -3.0f);
  EXPECT_LT(scores[1], scores[6]);  // single characters are never merge results
}

}  // namespace
}  // namespace frugal
