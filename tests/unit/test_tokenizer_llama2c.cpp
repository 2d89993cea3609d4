// llama2.c's tok512.bin (stories260K): encoding against SentencePiece's own ids for tok512.model
// (tests/reference/make_tok512_fixture.py), and decoding against run.c's printed output.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace frugal {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    out += c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
  }
  return out;
}

std::vector<int32_t> parse_ids(const std::string& text) {
  std::istringstream in(text);
  std::vector<int32_t> ids;
  for (int32_t id; in >> id;) ids.push_back(id);
  return ids;
}

Tokenizer tok512() {
  return Tokenizer(vocab_from_llama2c(test::data_file("stories260K/tok512.bin"), 512));
}

TEST(Tok512, VocabularyMatchesTheSentencePieceModel) {
  const Vocab v = vocab_from_llama2c(test::data_file("stories260K/tok512.bin"), 512);
  ASSERT_EQ(v.tokens.size(), 512u);
  EXPECT_EQ(v.tokens[0], "<unk>");
  EXPECT_EQ(v.tokens[1], "<s>");
  EXPECT_EQ(v.tokens[2], "</s>");
  EXPECT_EQ(v.tokens[3], "<0x00>");
  EXPECT_EQ(v.tokens[259], "\xE2\x96\x81t");  // "▁t": run.c's " t" with the space mark restored
  EXPECT_EQ(v.token_types[3], static_cast<int32_t>(TokenType::Byte));
  EXPECT_EQ(v.bos_id, 1);
  EXPECT_EQ(v.eos_id, 2);
  EXPECT_TRUE(v.add_bos);
}

TEST(Tok512, EncodesLikeSentencePiece) {
  const Tokenizer tok = tok512();
  std::istringstream lines(slurp(test::fixture("tok512_cases.txt")));
  int cases = 0, passed = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t tab = line.find('\t');
    ASSERT_NE(tab, std::string::npos) << line;
    const std::string text = unescape(line.substr(0, tab));
    const std::vector<int32_t> expected = parse_ids(line.substr(tab + 1));
    const std::vector<int32_t> ids = tok.encode(text, false, false);
    EXPECT_EQ(ids, expected) << "'" << text << "'";
    EXPECT_EQ(tok.decode(ids), text);
    ++cases;
    passed += ids == expected;
  }
  EXPECT_EQ(cases, 55);
  std::cout << "[ tok512   ] " << passed << "/" << cases << " cases\n";
}

TEST(Tok512, RunCPromptEncoding) {
  const Tokenizer tok = tok512();
  // run.c: BOS, then its dummy " " prefix merged into the first word.
  EXPECT_EQ(tok.encode("Once upon a time", true, false), (std::vector<int32_t>{1, 403, 407, 261, 378}));
  EXPECT_EQ(tok.encode("", true, false), (std::vector<int32_t>{1}));
  EXPECT_TRUE(tok.encode("", false, false).empty());
}

TEST(Tok512, DecodesRunCGreedyOutput) {
  const Tokenizer tok = tok512();
  const std::vector<int32_t> ids = parse_ids(slurp(test::data_file("stories260K/expected_t0_n256_token_ids.txt")));
  ASSERT_EQ(ids.size(), 256u);
  const std::string text = tok.decode(ids);
  EXPECT_EQ(text.rfind("Once upon a time, there was a little girl named Lily.", 0), 0u) << text;

  // run.c -n 200 prints the pieces of the first 200 generated ids (BOS before them is not printed).
  const std::vector<int32_t> first200(ids.begin(), ids.begin() + 200);
  const std::string expected = slurp(test::data_file("stories260K/expected_t0_n200.txt"));
  EXPECT_EQ(tok.decode(first200), expected);
  std::string streamed;
  int32_t prev = tok.bos_id();
  for (int32_t id : first200) {
    streamed += tok.stream_piece(prev, id);
    prev = id;
  }
  EXPECT_EQ(streamed, expected);
}

TEST(Tok512, BrokenFilesFailClearly) {
  const std::string good = slurp(test::data_file("stories260K/tok512.bin"));
  const std::string path = std::string(::testing::TempDir()) + "frugal_tok512_truncated.bin";
  {
    std::ofstream out(path, std::ios::binary);
    out.write(good.data(), 1000);
  }
  try {
    vocab_from_llama2c(path, 512);
    ADD_FAILURE() << "truncated file accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("file ends inside"), std::string::npos) << e.what();
  }
  // A vocabulary size smaller than the file's leaves bytes over: a wrong size, not a short file.
  try {
    vocab_from_llama2c(test::data_file("stories260K/tok512.bin"), 500);
    ADD_FAILURE() << "wrong vocabulary size accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bytes left after 500 tokens"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace frugal
