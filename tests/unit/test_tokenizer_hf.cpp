// Hugging Face tokenizer folders against the ids and texts the `tokenizers` library itself gives
// for them (tests/reference/make_hf_tokenizer_fixture.py). The HF tokenizer always recognises
// special tokens in text, which is our parse_special = true.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace frugal {
namespace {

const nlohmann::json& fixture_cases() {
  static const nlohmann::json cases = [] {
    std::ifstream in(test::fixture("hf_tok_cases.json"));
    EXPECT_TRUE(in.good());
    return nlohmann::json::parse(in);
  }();
  return cases;
}

class HfTokenizer : public ::testing::TestWithParam<std::string> {};

TEST_P(HfTokenizer, MatchesTheTokenizersLibrary) {
  const std::string name = GetParam();
  const Tokenizer tok(vocab_from_hf_dir(test::fixture(name)));
  const auto& cases = fixture_cases()["cases"];
  const auto& expected = fixture_cases()["expected"][name];
  ASSERT_EQ(cases.size(), 53u);
  int passed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string text = cases[i].get<std::string>();
    const auto ids = tok.encode(text, false, true);
    EXPECT_EQ(ids, expected["ids"][i].get<std::vector<int32_t>>()) << name << " case " << i << ": '" << text << "'";
    EXPECT_EQ(tok.encode(text, true, true), expected["ids_add_special"][i].get<std::vector<int32_t>>())
        << name << " case " << i;
    const auto hf_ids = expected["ids"][i].get<std::vector<int32_t>>();
    EXPECT_EQ(tok.decode(hf_ids, false), expected["decoded"][i].get<std::string>()) << name << " case " << i;
    EXPECT_EQ(tok.decode(hf_ids, true), expected["decoded_special"][i].get<std::string>()) << name << " case " << i;
    passed += ids == hf_ids;
  }
  std::cout << "[ hf       ] " << name << ": " << passed << "/" << cases.size() << " cases\n";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfTokenizer,
                         ::testing::Values("hf_tok_bytelevel", "hf_tok_llama3", "hf_tok_spm", "hf_tok_spm_legacy"));

TEST(HfTokenizerConfig, ReadsSpecialTokensAndTemplate) {
  const Vocab bl = vocab_from_hf_dir(test::fixture("hf_tok_bytelevel"));
  EXPECT_EQ(bl.kind, TokenizerKind::Bpe);
  EXPECT_EQ(bl.pre, "gpt-2");
  EXPECT_EQ(bl.bos_id, 0);  // <|endoftext|>
  EXPECT_EQ(bl.eos_id, 2);  // <|im_end|>
  EXPECT_EQ(bl.eot_id, 2);
  EXPECT_FALSE(bl.add_bos);
  EXPECT_EQ(bl.token_types[1], static_cast<int32_t>(TokenType::Control));        // <|im_start|>
  EXPECT_EQ(bl.token_types[659], static_cast<int32_t>(TokenType::UserDefined));  // <extra>
  EXPECT_NE(bl.chat_template.find("<|im_start|>"), std::string::npos);           // from chat_template.jinja

  const Vocab l3 = vocab_from_hf_dir(test::fixture("hf_tok_llama3"));
  EXPECT_EQ(l3.pre, "llama3");

  const Vocab spm = vocab_from_hf_dir(test::fixture("hf_tok_spm"));
  EXPECT_EQ(spm.kind, TokenizerKind::Spm);
  EXPECT_EQ(spm.space_prefix_rule, SpacePrefixRule::MetaspaceFirst);
  EXPECT_EQ(spm.unk_id, 0);
  EXPECT_EQ(spm.token_types[0], static_cast<int32_t>(TokenType::Unknown));
  EXPECT_EQ(spm.token_types[3], static_cast<int32_t>(TokenType::Byte));
  EXPECT_FALSE(spm.add_bos);

  const Vocab legacy = vocab_from_hf_dir(test::fixture("hf_tok_spm_legacy"));
  EXPECT_EQ(legacy.space_prefix_rule, SpacePrefixRule::EveryFragment);
  EXPECT_TRUE(legacy.add_bos);  // from the post-processor template
  EXPECT_EQ(legacy.bos_id, 1);
}

}  // namespace
}  // namespace frugal
