// GGUF reader: real files from llama.cpp's test vocabularies, and hand-broken files that must fail
// with a message naming the file and the place, never crash.
#include <gtest/gtest.h>

#include "core/error.h"
#include "gguf_builder.h"
#include "format/gguf.h"
#include "test_paths.h"

namespace frugal {
namespace {

using test::GgufBuilder;

// A valid two-tensor file: "a" F32 [4], "b" F32 [8, 2].
GgufBuilder good_file() {
  GgufBuilder b;
  b.header(2, 3);
  b.kv_string("general.architecture", "llama");
  b.kv_u32("llama.block_count", 1);
  b.kv_f32("llama.rope.freq_base", 10000.0f);
  b.tensor_info("a", {4}, 0, 0);
  b.tensor_info("b", {8, 2}, 0, 32);
  b.pad();
  b.f32_data({1, 2, 3, 4});
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[i] = static_cast<float>(i);
  b.f32_data(v);
  return b;
}

std::string error_of(const GgufBuilder& b, const std::string& name) {
  const std::string path = test::temp_path(name + ".gguf");
  b.save(path);
  try {
    GgufFile g(path);
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;  // names the file
    return msg;
  }
  ADD_FAILURE() << name << ": no error";
  return "";
}

TEST(Gguf, ReadsAValidFile) {
  const std::string path = test::temp_path("good.gguf");
  good_file().save(path);
  GgufFile g(path);
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.get_string("general.architecture"), "llama");
  EXPECT_EQ(g.get_int("llama.block_count"), 1);
  EXPECT_FLOAT_EQ(g.get_float("llama.rope.freq_base"), 10000.0f);
  ASSERT_EQ(g.tensors().size(), 2u);
  const GgufTensorInfo* b = g.find_tensor("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->ne, (std::vector<int64_t>{8, 2}));
  EXPECT_EQ(reinterpret_cast<const float*>(b->data)[15], 15.0f);
}

TEST(Gguf, ReadsLlamaCppVocabFiles) {
  GgufFile g(test::data_file("vocab/ggml-vocab-llama-spm.gguf"));
  EXPECT_EQ(g.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(g.get_string_array("tokenizer.ggml.tokens").size(), 32000u);
  EXPECT_EQ(g.get_float_array("tokenizer.ggml.scores").size(), 32000u);
  EXPECT_EQ(g.get_int("tokenizer.ggml.bos_token_id"), 1);
  GgufFile bpe(test::data_file("vocab/ggml-vocab-gpt-2.gguf"));
  EXPECT_EQ(bpe.get_string_array("tokenizer.ggml.merges").size(), 50000u);
}

TEST(Gguf, MissingKeyAndWrongTypeAreNamed) {
  const std::string path = test::temp_path("good2.gguf");
  good_file().save(path);
  GgufFile g(path);
  try {
    g.get_int("llama.embedding_length");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("llama.embedding_length"), std::string::npos);
  }
  EXPECT_THROW(g.get_int("general.architecture"), Error);
}

TEST(Gguf, RejectsBadMagic) {
  GgufBuilder b = good_file();
  b.bytes[0] = 'X';
  EXPECT_NE(error_of(b, "magic").find("bad magic"), std::string::npos);
}

TEST(Gguf, RejectsUnknownVersion) {
  GgufBuilder b = good_file();
  b.bytes[4] = 9;
  EXPECT_NE(error_of(b, "version").find("version"), std::string::npos);
}

TEST(Gguf, RejectsTruncationAnywhere) {
  const GgufBuilder good = good_file();
  for (size_t cut : {size_t{3}, size_t{10}, size_t{30}, size_t{60}, size_t{120}, good.bytes.size() - 1}) {
    GgufBuilder b = good;
    b.bytes.resize(cut);
    EXPECT_FALSE(error_of(b, "trunc" + std::to_string(cut)).empty()) << cut;
  }
}

TEST(Gguf, RejectsBadTensorOffset) {
  GgufBuilder b;
  b.header(2, 0);
  b.tensor_info("a", {4}, 0, 0);
  b.tensor_info("b", {4}, 0, 64);  // leaves a hole: must be 32
  b.pad();
  b.f32_data({1, 2, 3, 4});
  b.f32_data({1, 2, 3, 4});
  b.f32_data({1, 2, 3, 4});
  EXPECT_NE(error_of(b, "offset").find("tensor b"), std::string::npos);
}

TEST(Gguf, RejectsOverlappingTensors) {
  GgufBuilder b;
  b.header(2, 0);
  b.tensor_info("a", {8}, 0, 0);
  b.tensor_info("b", {8}, 0, 0);  // same bytes as a
  b.pad();
  b.f32_data(std::vector<float>(16));
  EXPECT_NE(error_of(b, "overlap").find("sequential"), std::string::npos);
}

TEST(Gguf, RejectsDataPastEnd) {
  GgufBuilder b;
  b.header(1, 0);
  b.tensor_info("a", {1024}, 0, 0);
  b.pad();
  b.f32_data({1, 2});
  EXPECT_NE(error_of(b, "pastend").find("past the end"), std::string::npos);
}

TEST(Gguf, RejectsAbsurdSizes) {
  GgufBuilder counts;
  counts.header(1ull << 60, 1ull << 60);
  EXPECT_NE(error_of(counts, "counts").find("absurd"), std::string::npos);

  GgufBuilder shape;
  shape.header(1, 0);
  shape.tensor_info("a", {1ull << 62, 1ull << 62}, 0, 0);
  EXPECT_NE(error_of(shape, "shape").find("absurd shape"), std::string::npos);

  GgufBuilder str;
  str.header(0, 1);
  str.put<uint64_t>(1ull << 50);  // key length
  EXPECT_NE(error_of(str, "string").find("absurd string"), std::string::npos);

  GgufBuilder arr;
  arr.header(0, 1);
  arr.put_string("tokenizer.ggml.tokens");
  arr.put<uint32_t>(9);
  arr.put<uint32_t>(8);
  arr.put<uint64_t>(1ull << 40);
  EXPECT_NE(error_of(arr, "array").find("exceeds the file"), std::string::npos);
}

TEST(Gguf, RejectsUnsupportedTensorType) {
  GgufBuilder b;
  b.header(1, 0);
  b.tensor_info("a", {256}, 23, 0);  // IQ4_XS
  b.pad();
  EXPECT_NE(error_of(b, "type").find("unsupported tensor type"), std::string::npos);
}

TEST(Gguf, RejectsRowNotMultipleOfBlock) {
  GgufBuilder b;
  b.header(1, 0);
  b.tensor_info("a", {48}, 8, 0);  // Q8_0 blocks are 32 wide
  b.pad();
  EXPECT_NE(error_of(b, "block").find("block size"), std::string::npos);
}

TEST(Gguf, RejectsBadValueTypeAndBool) {
  GgufBuilder t;
  t.header(0, 1);
  t.put_string("x");
  t.put<uint32_t>(77);
  EXPECT_NE(error_of(t, "vtype").find("unknown value type"), std::string::npos);

  GgufBuilder b;
  b.header(0, 1);
  b.put_string("flag");
  b.put<uint32_t>(7);
  b.put<uint8_t>(5);
  EXPECT_NE(error_of(b, "bool").find("bool"), std::string::npos);
}

// Found by fuzz_gguf: a key holding a newline made the error two lines (and put raw control bytes on
// the terminal). The message stays one line, the byte shown escaped.
TEST(Gguf, KeyWithControlBytesGivesOneLine) {
  GgufBuilder b;
  b.header(0, 1);
  b.put_string("tokenizer.gg\nml\x01");
  b.put<uint32_t>(77);
  const std::string msg = error_of(b, "newline_key");
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_NE(msg.find("key tokenizer.gg\\nml\\x01: unknown value type 77"), std::string::npos) << msg;
}

}  // namespace
}  // namespace frugal
