// GGUF writer: everything it writes must read back through GgufFile exactly (metadata of every
// type, F32 / F16 / BF16 / Q8_0 tensors with ggml's reversed shape order and aligned offsets), real
// files must survive a read-write-read cycle, and misuse must fail without leaving files behind.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "core/half.h"
#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "test_paths.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

std::string temp(const std::string& name) { return std::string(::testing::TempDir()) + "frugal_export_" + name; }

std::vector<float> random_values(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

template <typename T>
std::vector<T> raw(const GgufTensorInfo& t) {
  std::vector<T> out(t.nbytes / sizeof(T));
  std::memcpy(out.data(), t.data, t.nbytes);
  return out;
}

TEST(GgufWriter, EveryMetadataTypeRoundTrips) {
  GgufWriter w;
  w.set("t.u8", gguf_value_u8(250));
  w.set("t.i8", gguf_value_i8(-120));
  w.set("t.u16", gguf_value_u16(65000));
  w.set("t.i16", gguf_value_i16(-32000));
  w.set("t.u32", gguf_value_u32(4294967295u));
  w.set("t.i32", gguf_value_i32(-2000000000));
  w.set("t.u64", gguf_value_u64(uint64_t{1} << 62));
  w.set("t.i64", gguf_value_i64(-(int64_t{1} << 60)));
  w.set("t.f32", gguf_value_f32(0.1f));
  w.set("t.f64", gguf_value_f64(0.1));
  w.set("t.bool", gguf_value_bool(true));
  w.set("t.string", gguf_value_string("h\xC3\xA9llo"));
  w.set("t.strings", gguf_value_string_array({"a", "", "\xE2\x96\x81the"}));
  const std::vector<float> floats = {1.5f, -2.25f, 1e-30f};
  w.set("t.floats", gguf_value_f32_array(floats));
  const std::vector<int32_t> ints = {3, -1, 2147483647};
  w.set("t.ints", gguf_value_i32_array(ints));
  w.set("t.empty", gguf_value_array(GgufValueType::UINT64, {}));
  w.set("t.nested", gguf_value_array(GgufValueType::ARRAY, {gguf_value_i32_array(ints), gguf_value_i32_array({})}));
  w.set("t.replaced", gguf_value_u8(1));
  w.set("t.replaced", gguf_value_string("second"));
  w.add_tensor("x", {1}, GgmlType::F32, std::vector<float>{42.0f});
  const std::string path = temp("meta.gguf");
  w.write(path);

  GgufFile g(path);
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.metadata().size(), 18u);
  EXPECT_EQ(g.find("t.u8")->type, GgufValueType::UINT8);
  EXPECT_EQ(g.get_int("t.u8"), 250);
  EXPECT_EQ(g.find("t.i8")->type, GgufValueType::INT8);
  EXPECT_EQ(g.get_int("t.i8"), -120);
  EXPECT_EQ(g.get_int("t.u16"), 65000);
  EXPECT_EQ(g.find("t.i16")->type, GgufValueType::INT16);
  EXPECT_EQ(g.get_int("t.i16"), -32000);
  EXPECT_EQ(g.get_int("t.u32"), 4294967295);
  EXPECT_EQ(g.get_int("t.i32"), -2000000000);
  EXPECT_EQ(g.find("t.u64")->type, GgufValueType::UINT64);
  EXPECT_EQ(g.get_int("t.u64"), int64_t{1} << 62);
  EXPECT_EQ(g.get_int("t.i64"), -(int64_t{1} << 60));
  EXPECT_EQ(g.find("t.f32")->type, GgufValueType::FLOAT32);
  EXPECT_EQ(static_cast<float>(g.get_float("t.f32")), 0.1f);
  EXPECT_EQ(g.find("t.f64")->type, GgufValueType::FLOAT64);
  EXPECT_EQ(g.get_float("t.f64"), 0.1);
  EXPECT_EQ(g.find("t.bool")->type, GgufValueType::BOOL);
  EXPECT_TRUE(g.get_bool("t.bool", false));
  EXPECT_EQ(g.get_string("t.string"), "h\xC3\xA9llo");
  EXPECT_EQ(g.get_string_array("t.strings"), (std::vector<std::string>{"a", "", "\xE2\x96\x81the"}));
  EXPECT_EQ(g.get_float_array("t.floats"), floats);
  EXPECT_EQ(g.get_int_array("t.ints"), (std::vector<int64_t>{3, -1, 2147483647}));
  EXPECT_EQ(g.find("t.empty")->element_type, GgufValueType::UINT64);
  EXPECT_TRUE(g.find("t.empty")->array.empty());
  const GgufValue* nested = g.find("t.nested");
  ASSERT_EQ(nested->array.size(), 2u);
  EXPECT_EQ(nested->array[0].array.size(), 3u);
  EXPECT_EQ(nested->array[0].array[2].integer, 2147483647);
  EXPECT_EQ(g.get_string("t.replaced"), "second");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(GgufWriter, EveryTensorTypeRoundTrips) {
  const std::vector<float> a = random_values(2 * 3, 1), b = random_values(4 * 40, 2), c = random_values(7, 3),
                           e = random_values(2 * 3 * 32, 5);
  std::vector<float> d = random_values(3 * 64, 4, 0.05f);
  d[5] = 0.0f;
  GgufWriter w;
  w.add_tensor("f32", {2, 3}, GgmlType::F32, std::span<const float>(a));
  w.add_tensor("f16", {4, 40}, GgmlType::F16, std::span<const float>(b));
  w.add_tensor("bf16.vector", {7}, GgmlType::BF16, std::span<const float>(c));
  w.add_tensor("q8_0", {3, 64}, GgmlType::Q8_0, std::span<const float>(d));
  w.add_tensor("q8_0.3d", {2, 3, 32}, GgmlType::Q8_0, std::span<const float>(e));
  std::vector<uint8_t> pre(34 * 2);
  quantize_row_q8_0(d.data(), pre.data(), 64);
  w.add_encoded_tensor("encoded", {64}, GgmlType::Q8_0, pre);
  const std::string path = temp("tensors.gguf");
  w.write(path);

  GgufFile g(path);
  ASSERT_EQ(g.tensors().size(), 6u);
  const auto ne = [&](const char* n) { return g.find_tensor(n)->ne; };
  EXPECT_EQ(ne("f32"), (std::vector<int64_t>{3, 2}));  // ggml order: row length first
  EXPECT_EQ(ne("f16"), (std::vector<int64_t>{40, 4}));
  EXPECT_EQ(ne("bf16.vector"), (std::vector<int64_t>{7}));
  EXPECT_EQ(ne("q8_0"), (std::vector<int64_t>{64, 3}));
  EXPECT_EQ(ne("q8_0.3d"), (std::vector<int64_t>{32, 3, 2}));
  for (const GgufTensorInfo& t : g.tensors()) {
    EXPECT_EQ(t.offset % 32, 0u) << t.name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 32, 0u) << t.name;  // the data section itself is aligned
  }
  EXPECT_EQ(g.find_tensor("f32")->type, GgmlType::F32);
  EXPECT_EQ(raw<float>(*g.find_tensor("f32")), a);
  std::vector<uint16_t> h = raw<uint16_t>(*g.find_tensor("f16"));
  for (size_t i = 0; i < b.size(); ++i) ASSERT_EQ(h[i], float_to_fp16(b[i])) << i;
  h = raw<uint16_t>(*g.find_tensor("bf16.vector"));
  for (size_t i = 0; i < c.size(); ++i) ASSERT_EQ(h[i], float_to_bf16(c[i])) << i;

  // Q8_0: what the reader decodes equals our quantizer followed by the reference dequantizer.
  const auto check_q8 = [&](const char* name, const std::vector<float>& src, int64_t row) {
    const GgufTensorInfo& t = *g.find_tensor(name);
    EXPECT_EQ(t.type, GgmlType::Q8_0);
    std::vector<uint8_t> block(ggml_row_bytes(GgmlType::Q8_0, row));
    std::vector<float> want(row), got(row);
    for (size_t r = 0; r < src.size() / row; ++r) {
      quantize_row_q8_0(src.data() + r * row, block.data(), row);
      dequantize_row_ref(GgmlType::Q8_0, block.data(), want.data(), row);
      dequantize_row(GgmlType::Q8_0, t.data + r * block.size(), got.data(), row);
      ASSERT_EQ(got, want) << name << " row " << r;
      // And it is a Q8_0 code: within half a step (plus the fp16 rounding of the scale) of the input.
      for (int64_t blk = 0; blk < row / 32; ++blk) {
        float amax = 0;
        for (int64_t i = 0; i < 32; ++i) amax = std::max(amax, std::abs(src[r * row + blk * 32 + i]));
        for (int64_t i = blk * 32; i < blk * 32 + 32; ++i) ASSERT_NEAR(got[i], src[r * row + i], 0.6f * amax / 127);
      }
    }
  };
  check_q8("q8_0", d, 64);
  check_q8("q8_0.3d", e, 32);
  EXPECT_EQ(raw<uint8_t>(*g.find_tensor("encoded")), pre);
}

TEST(GgufWriter, HonoursAnotherAlignment) {
  GgufWriter w(64);
  w.set_string("general.architecture", "llama");
  w.add_tensor("a", {3}, GgmlType::F32, std::vector<float>{1, 2, 3});
  w.add_tensor("b", {5}, GgmlType::F16, std::vector<float>{1, 2, 3, 4, 5});
  const std::string path = temp("align64.gguf");
  w.write(path);
  GgufFile g(path);
  EXPECT_EQ(g.alignment(), 64u);
  EXPECT_EQ(g.get_int("general.alignment"), 64);
  EXPECT_EQ(g.find_tensor("b")->offset, 64u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(g.find_tensor("a")->data) % 64, 0u);
  EXPECT_EQ(fs::file_size(path) % 64, 0u);  // every tensor padded, the last one too
}

// A vocabulary file from llama.cpp: every value read and written back reads the same.
TEST(GgufWriter, RewritesARealFileUnchanged) {
  GgufFile src(test::data_file("vocab/ggml-vocab-gpt-2.gguf"));
  GgufWriter w;
  for (const auto& [key, value] : src.metadata())
    if (key != "general.alignment") w.set(key, value);
  for (const GgufTensorInfo& t : src.tensors()) {
    std::vector<int64_t> shape(t.ne.rbegin(), t.ne.rend());
    w.add_encoded_tensor(t.name, shape, t.type, std::span<const uint8_t>(t.data, t.nbytes));
  }
  const std::string path = temp("vocab_rewrite.gguf");
  w.write(path);
  GgufFile g(path);
  ASSERT_EQ(g.metadata().size(), src.metadata().size());
  for (const auto& [key, value] : src.metadata()) {
    const GgufValue* v = g.find(key);
    ASSERT_NE(v, nullptr) << key;
    EXPECT_EQ(v->type, value.type) << key;
    EXPECT_EQ(v->integer, value.integer) << key;
    EXPECT_EQ(v->string, value.string) << key;
    EXPECT_EQ(v->array.size(), value.array.size()) << key;
  }
  EXPECT_EQ(g.get_string_array("tokenizer.ggml.tokens"), src.get_string_array("tokenizer.ggml.tokens"));
  EXPECT_EQ(g.get_string_array("tokenizer.ggml.merges"), src.get_string_array("tokenizer.ggml.merges"));
  EXPECT_EQ(g.get_int_array("tokenizer.ggml.token_type"), src.get_int_array("tokenizer.ggml.token_type"));
}

TEST(GgufWriter, RefusesWhatReadersCannotTake) {
  GgufWriter w;
  EXPECT_THROW(w.add_tensor("q", {2, 48}, GgmlType::Q8_0, std::vector<float>(96)), Error);  // 48 % 32 != 0
  EXPECT_THROW(w.add_tensor(std::string(64, 'n'), {1}, GgmlType::F32, std::vector<float>(1)), Error);
  EXPECT_THROW(w.add_tensor("n", {2, 2}, GgmlType::F32, std::vector<float>(3)), Error);
  EXPECT_THROW(w.add_tensor("k", {2, 32}, GgmlType::Q4_K, std::vector<float>(64)), Error);
  EXPECT_THROW(w.add_encoded_tensor("e", {32}, GgmlType::Q8_0, std::vector<uint8_t>(33)), Error);
  w.add_tensor("t", {1}, GgmlType::F32, std::vector<float>(1));
  EXPECT_THROW(w.add_tensor("t", {1}, GgmlType::F32, std::vector<float>(1)), Error);
  EXPECT_THROW(gguf_value_u64(~uint64_t{0}), Error);
  EXPECT_THROW(GgufWriter(12), Error);

  GgufWriter bad;
  bad.set("k", gguf_value_array(GgufValueType::INT32, {gguf_value_string("x")}));
  const std::string path = temp("bad_array.gguf");
  try {
    bad.write(path);
    FAIL() << "mixed array accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("key k"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  GgufWriter out_of_range;
  GgufValue too_big = gguf_value_u8(0);
  too_big.integer = 300;  // built by hand: the helpers cannot make it
  out_of_range.set("big", too_big);
  EXPECT_THROW(out_of_range.write(temp("range.gguf")), Error);
  EXPECT_THROW(w.write(temp("no_such_dir/x.gguf")), Error);
}

}  // namespace
}  // namespace frugal
