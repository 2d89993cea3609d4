// Every GGUF tokenizer.ggml.pre name llama.cpp accepts, with its flags, and the pieces each
// pre-tokenizer cuts a varied text set into, against tests/fixtures/pretokenizer_pieces.json:
// names and flags read from llama.cpp's source, pieces from the Hugging Face `tokenizers` library
// (tests/reference/make_pretokenizer_fixture.py).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "test_paths.h"
#include "tokenizer/pretokenizer.h"

namespace frugal {
namespace {

const nlohmann::json& fixture() {
  static const nlohmann::json j = [] {
    std::ifstream in(test::fixture("pretokenizer_pieces.json"));
    EXPECT_TRUE(in.good());
    return nlohmann::json::parse(in);
  }();
  return j;
}

TEST(PreTokenizerTable, AcceptsEveryNameLlamaCppAcceptsWithItsFlags) {
  const auto& names = fixture()["names"];
  ASSERT_GE(names.size(), 90u);
  for (const auto& [name, flags] : names.items()) {
    const PreTokenizerSpec* spec = find_pre_tokenizer(name);
    ASSERT_NE(spec, nullptr) << name;
    EXPECT_EQ(spec->name, name);
    EXPECT_EQ(spec->ignore_merges, flags["ignore_merges"].get<bool>()) << name;
    EXPECT_EQ(spec->add_bos, flags["add_bos"].get<bool>()) << name;
    EXPECT_EQ(spec->clean_spaces, flags["clean_spaces"].get<bool>()) << name;
    EXPECT_EQ(spec->escape_spaces, flags["escape_whitespaces"].get<bool>()) << name;
    EXPECT_EQ(spec->byte_level, flags["byte_encode"].get<bool>()) << name;
  }
  // ... and no name llama.cpp would refuse.
  for (std::string_view name : pre_tokenizer_names()) EXPECT_TRUE(names.contains(std::string(name))) << name;
  EXPECT_EQ(pre_tokenizer_names().size(), names.size());
  std::cout << "[ pre      ] " << pre_tokenizer_names().size() << " tokenizer.ggml.pre names\n";
}

TEST(PreTokenizerTable, PiecesMatchTheTokenizersLibrary) {
  const auto& texts = fixture()["texts"];
  int names_checked = 0, mismatches = 0;
  for (const auto& [name, flags] : fixture()["names"].items()) {
    const PreTokenizerSpec* spec = find_pre_tokenizer(name);
    ASSERT_NE(spec, nullptr) << name;
    // The regex chain alone: escape_spaces (U+2581 for spaces) is a normalizer, tested with encoding.
    TextPipeline pipeline = pipeline_for_pre(name, "table");
    pipeline.normalizers.clear();
    const PreTokenizer pre(pipeline, "table");
    const auto& expected = fixture()["types"][flags["type"].get<std::string>()]["pieces"];
    ASSERT_EQ(expected.size(), texts.size()) << name;
    for (size_t i = 0; i < texts.size(); ++i) {
      const std::string text = texts[i].get<std::string>();
      std::vector<std::string> pieces;
      pre.split(text, true, pieces);
      std::vector<size_t> lengths;
      for (const std::string& p : pieces) lengths.push_back(p.size());
      const bool same = lengths == expected[i].get<std::vector<size_t>>();
      EXPECT_TRUE(same) << name << " (" << flags["type"].get<std::string>() << ") text " << i << ": '" << text << "'";
      mismatches += !same;
    }
    ++names_checked;
  }
  std::cout << "[ pre      ] " << names_checked << " names x " << texts.size() << " texts, " << mismatches
            << " mismatches\n";
}

TEST(PreTokenizerTable, UnknownNameIsRefused) {
  EXPECT_EQ(find_pre_tokenizer("no-such-pre"), nullptr);
  EXPECT_EQ(find_pre_tokenizer(""), nullptr);
}

}  // namespace
}  // namespace frugal
