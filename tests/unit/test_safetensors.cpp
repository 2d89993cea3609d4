// safetensors reader against files written by the upstream `safetensors` package
// (tests/reference/make_safetensors_fixture.py), our writer against the same files byte for byte,
// and the reader against hand-broken variants of the good file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "format/safetensors.h"
#include "test_paths.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Bytes = std::vector<uint8_t>;

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) ADD_FAILURE() << "cannot open " << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::string hex(const uint8_t* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

// A scratch directory per test process, removed at the end.
class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("frugal_safetensors_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string scratch(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

// Checks every tensor, the metadata and the float conversions against the sidecar written from torch.
void check_against_expected(const SafetensorsFile& file, const std::string& expected_path) {
  const Bytes text = read_file(expected_path);
  const Json expected = Json::parse(text.begin(), text.end());
  ASSERT_EQ(file.tensors().size(), expected["tensors"].size());
  std::map<std::string, std::string> want_meta = expected["metadata"];
  EXPECT_EQ(file.metadata(), want_meta);
  for (const auto& [name, want] : expected["tensors"].items()) {
    SCOPED_TRACE(name);
    const SafetensorsTensor* t = file.find(name);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(safe_dtype_name(t->dtype), want["dtype"].get<std::string>());
    EXPECT_EQ(t->shape, want["shape"].get<std::vector<int64_t>>());
    EXPECT_EQ(hex(t->data, t->nbytes), want["hex"].get<std::string>());
    EXPECT_EQ(t->nbytes, static_cast<uint64_t>(t->numel()) * safe_dtype_size(t->dtype));
    if (want.contains("f32_bits")) {
      const std::vector<float> values = to_f32(*t);
      const auto bits = want["f32_bits"].get<std::vector<uint32_t>>();
      ASSERT_EQ(values.size(), bits.size());
      for (size_t i = 0; i < bits.size(); ++i) {
        uint32_t got;
        std::memcpy(&got, &values[i], 4);
        EXPECT_EQ(got, bits[i]) << "element " << i;
      }
    } else {
      EXPECT_THROW(to_f32(*t), Error);
    }
  }
}

TEST_F(SafetensorsTest, ReadsFileWrittenByTheReferenceLibrary) {
  for (const char* stem : {"basic", "dtypes"}) {
    SCOPED_TRACE(stem);
    const std::string path = test::fixture(std::string("safetensors/") + stem + ".safetensors");
    const SafetensorsFile file(path);
    EXPECT_EQ(file.path(), path);
    check_against_expected(file, test::fixture(std::string("safetensors/") + stem + ".expected.json"));
  }
  const SafetensorsFile basic(test::fixture("safetensors/basic.safetensors"));
  EXPECT_EQ(basic.find("no.such.tensor"), nullptr);
  EXPECT_THROW(basic.get("no.such.tensor"), Error);
  EXPECT_TRUE(basic.get("scalar").shape.empty());
  EXPECT_EQ(basic.get("scalar").numel(), 1);
  EXPECT_EQ(basic.get("empty").numel(), 0);
  // tensors() is in data order: the reference writer put the widest dtype (I64) first.
  EXPECT_EQ(basic.tensors().front().name, "token_ids");
  try {
    to_f32(basic.get("token_ids"));
    ADD_FAILURE() << "I64 converted to fp32";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), basic.path() + ": tensor 'token_ids': dtype I64 is not F32, F16 or BF16");
  }
}

std::vector<SafetensorsWriteTensor> tensors_of(const SafetensorsFile& file) {
  std::vector<SafetensorsWriteTensor> out;
  // Reversed, so the writer has to do the ordering itself.
  for (auto it = file.tensors().rbegin(); it != file.tensors().rend(); ++it)
    out.push_back({it->name, it->dtype, it->shape, {it->data, it->nbytes}});
  return out;
}

TEST_F(SafetensorsTest, WriterMatchesReferenceLibraryByteForByte) {
  // basic.safetensors has one metadata key, so the reference library's output is deterministic:
  // same tensor order (dtype rank descending, then name), same JSON, same space padding.
  const std::string fixture = test::fixture("safetensors/basic.safetensors");
  const SafetensorsFile file(fixture);
  const std::string out = scratch("basic.safetensors");
  write_safetensors(out, tensors_of(file), file.metadata());
  EXPECT_EQ(read_file(out), read_file(fixture));
  EXPECT_FALSE(fs::exists(out + ".tmp"));
}

TEST_F(SafetensorsTest, WriterRoundTripsEveryDtypeAndMetadata) {
  // dtypes.safetensors has three metadata keys, which the reference library writes in hash order;
  // ours are sorted, so here we check the round trip through our reader instead of the bytes.
  const SafetensorsFile file(test::fixture("safetensors/dtypes.safetensors"));
  const std::string out = scratch("dtypes.safetensors");
  write_safetensors(out, tensors_of(file), file.metadata());
  const SafetensorsFile back(out);
  check_against_expected(back, test::fixture("safetensors/dtypes.expected.json"));
  const Bytes bytes = read_file(out);
  uint64_t header_bytes;
  std::memcpy(&header_bytes, bytes.data(), 8);
  EXPECT_EQ(header_bytes % 8, 0u);
  for (const SafetensorsTensor& t : back.tensors())  // widest first keeps every tensor aligned
    EXPECT_EQ(t.file_offset % safe_dtype_size(t.dtype), 0u) << t.name;
}

TEST_F(SafetensorsTest, WriterRejectsBadInput) {
  const float x[2] = {1, 2};
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(x), sizeof x);
  const std::string out = scratch("bad.safetensors");
  auto expect_fail = [&](const std::vector<SafetensorsWriteTensor>& tensors, const std::string& needle) {
    try {
      write_safetensors(out, tensors);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(out), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(out));
    EXPECT_FALSE(fs::exists(out + ".tmp"));
  };
  expect_fail({{"a", SafeDtype::F32, {3}, bytes}}, "needs 12 bytes");
  expect_fail({{"a", SafeDtype::F32, {2}, bytes}, {"a", SafeDtype::F32, {2}, bytes}}, "given twice");
  expect_fail({{"a", SafeDtype::F32, {-2}, bytes}}, "negative");
  expect_fail({{"__metadata__", SafeDtype::F32, {2}, bytes}}, "reserved");
  EXPECT_THROW(write_safetensors(scratch("no/such/dir/x.safetensors"), {{"a", SafeDtype::F32, {2}, bytes}}), Error);
}

// ---- hand-broken files, each built from the good fixture's bytes ----

struct Parts {
  Json header;  // ordered as in the file
  Bytes buffer;
};

Parts split(const Bytes& file) {
  uint64_t n;
  std::memcpy(&n, file.data(), 8);
  Parts p;
  p.header = Json::parse(file.begin() + 8, file.begin() + 8 + static_cast<long>(n));
  p.buffer.assign(file.begin() + 8 + static_cast<long>(n), file.end());
  return p;
}

Bytes join(const std::string& header_text, const Bytes& buffer) {
  std::string text = header_text;
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t n = text.size();
  Bytes out(8 + text.size() + buffer.size());
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, text.data(), text.size());
  if (!buffer.empty()) std::memcpy(out.data() + 8 + text.size(), buffer.data(), buffer.size());
  return out;
}

Bytes join(const Parts& p) {
  return join(p.header.dump(), p.buffer);
}

class SafetensorsBroken : public SafetensorsTest {
 protected:
  void SetUp() override {
    SafetensorsTest::SetUp();
    good_ = read_file(test::fixture("safetensors/basic.safetensors"));
  }
  Parts parts() const { return split(good_); }

  // The file must be refused with a frugal::Error whose one line names the file and says why.
  void expect_rejected(const std::string& name, const Bytes& bytes, const std::string& needle) {
    SCOPED_TRACE(name);
    const std::string path = scratch(name + ".safetensors");
    write_file(path, bytes);
    try {
      SafetensorsFile file(path);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
      EXPECT_NE(msg.find(needle), std::string::npos) << "want '" << needle << "' in: " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not a frugal::Error: " << e.what();
    }
  }

  Bytes good_;
};

TEST_F(SafetensorsBroken, GoodFixtureLoads) {
  // The baseline every case below breaks in one place.
  const std::string path = scratch("good.safetensors");
  write_file(path, join(parts()));
  EXPECT_NO_THROW(SafetensorsFile{path});
}

TEST_F(SafetensorsBroken, TruncatedOrOversizedHeader) {
  expect_rejected("empty", {}, "header length");
  expect_rejected("five_bytes", Bytes(good_.begin(), good_.begin() + 5), "header length");
  expect_rejected("cut_in_header", Bytes(good_.begin(), good_.begin() + 60), "larger than the rest of the file");
  Bytes huge = good_;
  const uint64_t too_big = 200'000'000;
  std::memcpy(huge.data(), &too_big, 8);
  expect_rejected("header_over_limit", huge, "100,000,000");
  Bytes longer = good_;
  const uint64_t past_end = good_.size();  // under the limit, but past the end of the file
  std::memcpy(longer.data(), &past_end, 8);
  expect_rejected("header_past_eof", longer, "larger than the rest of the file");
  const uint64_t max = ~uint64_t{0};
  std::memcpy(huge.data(), &max, 8);
  expect_rejected("header_length_max", huge, "header length");
}

TEST_F(SafetensorsBroken, BadJson) {
  const Parts p = parts();
  std::string text = p.header.dump();
  expect_rejected("cut_json", join(text.substr(0, text.size() - 3), p.buffer), "not valid JSON");
  expect_rejected("garbage", join("{\"a\": nope}", p.buffer), "not valid JSON");
  expect_rejected("array", join("[1, 2]", p.buffer), "not an object");
  expect_rejected("bad_utf8", join("{\"\xff\xfe\": 1}", p.buffer), "not valid JSON");
  // A second tensor under an existing name: valid JSON, ambiguous file.
  const std::string dup =
      text.substr(0, text.size() - 1) + ",\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[88,92]}}";
  expect_rejected("duplicate_name", join(dup, p.buffer), "two tensors named 'scalar'");
}

TEST_F(SafetensorsBroken, BadOffsets) {
  Parts p = parts();
  const uint64_t size = p.buffer.size();
  p.header["model.layers.0.mlp.up_proj.weight"]["data_offsets"] = {size - 20 + 8, size + 8};
  expect_rejected("past_buffer", join(p), "run past the end");

  p = parts();
  p.header["scalar"]["data_offsets"] = {92, 88};
  expect_rejected("end_before_begin", join(p), "end before they begin");

  p = parts();  // scalar moved 4 bytes back, onto the last float of the embedding
  p.header["scalar"]["data_offsets"] = {84, 88};
  expect_rejected("overlap", join(p), "overlaps tensor 'model.embed_tokens.weight'");

  p = parts();  // 16 spare bytes at the end of the buffer
  p.buffer.resize(p.buffer.size() + 16);
  expect_rejected("trailing_bytes", join(p), "belong to no tensor");

  p = parts();  // the last tensor moved 8 bytes later: a hole in the middle
  p.buffer.resize(p.buffer.size() + 8);
  p.header["model.layers.0.mlp.up_proj.weight"]["data_offsets"] = {size - 20 + 8, size + 8};
  expect_rejected("hole", join(p), "belong to no tensor");

  expect_rejected("truncated_buffer", Bytes(good_.begin(), good_.end() - 10), "run past the end");

  p = parts();
  p.header["scalar"]["data_offsets"] = {88};
  expect_rejected("one_offset", join(p), "not [BEGIN, END]");
  p.header["scalar"]["data_offsets"] = {88.0, 92.5};
  expect_rejected("float_offsets", join(p), "not a non-negative integer");
  p.header["scalar"]["data_offsets"] = {-4, 92};
  expect_rejected("negative_offset", join(p), "not a non-negative integer");
}

TEST_F(SafetensorsBroken, BadShapesAndDtypes) {
  Parts p = parts();
  p.header["model.embed_tokens.weight"]["shape"] = {4, 4};
  expect_rejected("wrong_byte_count", join(p), "needs 64 bytes");

  p = parts();
  p.header["model.embed_tokens.weight"]["dtype"] = "Q4";
  expect_rejected("unknown_dtype", join(p), "unknown or unsupported dtype \"Q4\"");
  p.header["model.embed_tokens.weight"]["dtype"] = "F16";  // right name, wrong size for the bytes
  expect_rejected("wrong_dtype", join(p), "needs 24 bytes");
  p.header["model.embed_tokens.weight"]["dtype"] = 32;
  expect_rejected("dtype_not_string", join(p), "not a string");

  p = parts();
  p.header["empty"]["shape"] = {uint64_t{1} << 32, uint64_t{1} << 32};
  expect_rejected("shape_overflow", join(p), "overflows");
  p.header["empty"]["shape"] = {uint64_t{1} << 62, 3, 0};  // 0 elements, but the running product overflows
  expect_rejected("shape_overflow_then_zero", join(p), "overflows");
  p.header["empty"]["shape"] = {~uint64_t{0}, 0};
  expect_rejected("shape_absurd_dim", join(p), "absurd");
  p.header["empty"]["shape"] = {-1, 3};
  expect_rejected("shape_negative", join(p), "not a non-negative integer");
  p.header["empty"]["shape"] = "3";
  expect_rejected("shape_not_array", join(p), "not an array");

  p = parts();
  p.header["empty"].erase("dtype");
  expect_rejected("missing_dtype", join(p), "missing \"dtype\"");
  p = parts();
  p.header["empty"] = 5;
  expect_rejected("entry_not_object", join(p), "not an object");
}

TEST_F(SafetensorsBroken, BadMetadata) {
  Parts p = parts();
  p.header["__metadata__"]["step"] = 12;
  expect_rejected("metadata_number", join(p), "__metadata__");
  p.header["__metadata__"] = "pt";
  expect_rejected("metadata_string", join(p), "__metadata__");
}

}  // namespace
}  // namespace frugal
