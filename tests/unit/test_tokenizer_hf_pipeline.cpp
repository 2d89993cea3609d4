// tokenizer.json pipelines read generically: small tokenizers, one per combination of normalizers,
// pre-tokenizers and decoders, against the ids and texts the `tokenizers` library gives for them
// (tests/reference/make_hf_pipeline_fixture.py); and unsupported components refused in one line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

const nlohmann::json& fixture() {
  static const nlohmann::json j = [] {
    std::ifstream in(test::fixture("hf_pipeline_cases.json"));
    EXPECT_TRUE(in.good());
    return nlohmann::json::parse(in);
  }();
  return j;
}

// A folder holding `tokenizer` as its tokenizer.json.
std::string folder_with(const std::string& name, const nlohmann::json& tokenizer) {
  const std::string dir = std::string(::testing::TempDir()) + "frugal_hf_pipeline_" + name;
  fs::create_directories(dir);
  std::ofstream(dir + "/tokenizer.json") << tokenizer.dump();
  return dir;
}

class HfPipeline : public ::testing::TestWithParam<std::string> {};

TEST_P(HfPipeline, MatchesTheTokenizersLibrary) {
  const std::string name = GetParam();
  const auto& config = fixture()["configs"][name];
  const Tokenizer tok(vocab_from_hf_dir(folder_with(name, config["tokenizer"])));
  const auto& texts = fixture()["texts"];
  int passed = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string text = texts[i].get<std::string>();
    const auto want = config["ids"][i].get<std::vector<int32_t>>();
    const auto ids = tok.encode(text, false, true);
    EXPECT_EQ(ids, want) << name << " text " << i << ": '" << text << "'";
    EXPECT_EQ(tok.decode(want, true), config["decoded"][i].get<std::string>()) << name << " text " << i;
    passed += ids == want;
  }
  std::cout << "[ pipeline ] " << name << ": " << passed << "/" << texts.size() << " texts\n";
}

INSTANTIATE_TEST_SUITE_P(Synthetic, HfPipeline,
                         ::testing::Values("bytelevel_prefix_space", "digits_contiguous", "punctuation_merged_next",
                                           "split_behaviors", "split_invert", "normalizers_bytelevel",
                                           "metaspace_split_always", "metaspace_split_first", "metaspace_never_custom",
                                           "replace_normalizer_gemma", "prepend_replace_split", "whitespace_unk",
                                           "whitespace_split_digits"));

// The message of the error reading `tokenizer` gives; it must name the file.
std::string error_reading(const std::string& name, const nlohmann::json& tokenizer) {
  const std::string dir = folder_with(name, tokenizer);
  try {
    Tokenizer t(vocab_from_hf_dir(dir));
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(dir + "/tokenizer.json"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  }
  ADD_FAILURE() << name << ": no error";
  return "";
}

TEST(HfPipelineErrors, UnsupportedComponentsNameTheirPathAndType) {
  const nlohmann::json base = fixture()["configs"]["whitespace_split_digits"]["tokenizer"];
  nlohmann::json t = base;
  t["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "Lowercase"}}, {{"type", "NFKD"}}}}};
  const std::string nfkd = error_reading("nfkd", t);
  EXPECT_NE(nfkd.find("normalizer.normalizers[1]"), std::string::npos) << nfkd;
  EXPECT_NE(nfkd.find("'NFKD'"), std::string::npos) << nfkd;

  t = base;
  t["pre_tokenizer"]["pretokenizers"][1] = {{"type", "CharDelimiterSplit"}, {"delimiter", "x"}};
  const std::string delim = error_reading("char_delimiter", t);
  EXPECT_NE(delim.find("pre_tokenizer.pretokenizers[1]"), std::string::npos) << delim;
  EXPECT_NE(delim.find("'CharDelimiterSplit'"), std::string::npos) << delim;

  t = base;
  t["decoder"] = {{"type", "WordPiece"}, {"prefix", "##"}};
  const std::string wp = error_reading("wordpiece_decoder", t);
  EXPECT_NE(wp.find("decoder"), std::string::npos) << wp;
  EXPECT_NE(wp.find("'WordPiece'"), std::string::npos) << wp;

  t = base;
  t["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers", {{{"type", "ByteLevel"}}, {{"type", "Digits"}, {"individual_digits", true}}}}};
  const std::string after = error_reading("after_bytelevel", t);
  EXPECT_NE(after.find("pre_tokenizer.pretokenizers[1]"), std::string::npos) << after;

  t = base;
  t["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  error_reading("bad_regex", t);

  t = base;
  t["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", "x"}}}, {"behavior", "Sideways"}};
  const std::string behavior = error_reading("bad_behavior", t);
  EXPECT_NE(behavior.find("pre_tokenizer.behavior"), std::string::npos) << behavior;
}

}  // namespace
}  // namespace frugal
