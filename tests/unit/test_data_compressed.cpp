// Compressed dataset files: gzip and zstd streams made by the real tools (gzip 1.12, zstd 1.5.4;
// tests/reference/make_compressed_dataset_fixtures.sh) read as the text they hold, concatenated
// members and frames included; damaged ones fail with one line naming the file and the byte.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "data/compressed_text.h"
#include "data/dataset.h"
#include "test_paths.h"

namespace frugal {
namespace {

const std::string kPlain = "datasets/messages.jsonl";

TEST(DataCompressed, GzipAndZstdReadAsTheirText) {
  const std::string plain = test::read_file(test::fixture(kPlain));
  ASSERT_FALSE(plain.empty());
  for (const char* name : {"datasets/messages.jsonl.gz", "datasets/messages.jsonl.zst",
                           "datasets/messages_two_members.jsonl.gz", "datasets/messages_two_frames.jsonl.zst"}) {
    const std::string path = test::fixture(name);
    EXPECT_EQ(read_text_maybe_compressed(path, "cannot open", "cannot read"), plain) << name;
    const Dataset ds = load_dataset(path, {});
    EXPECT_EQ(ds.format, DatasetFormat::Chat) << name;
    ASSERT_EQ(ds.records.size(), 3u) << name;
    EXPECT_EQ(ds.records[2].line, 3) << name << ": lines count in the decompressed text";
    EXPECT_EQ(ds.records[1].messages[3].content, "Hallo!") << name;
  }
  // Text that is not compressed passes through untouched.
  EXPECT_EQ(decompress_if_compressed(plain, "p"), plain);
}

// The message of the Error that decompressing `bytes` throws, or "" when it succeeds.
std::string error_of(const std::string& bytes) {
  try {
    decompress_if_compressed(bytes, "d.jsonl.gz");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(DataCompressed, DamagedStreamsFailWithTheByte) {
  for (const char* name : {"datasets/messages.jsonl.gz", "datasets/messages.jsonl.zst"}) {
    const std::string whole = test::read_file(test::fixture(name));
    ASSERT_GT(whole.size(), 40u) << name;
    const bool gzip = std::string(name).ends_with(".gz");
    const std::string kind = gzip ? "gzip" : "zstd";

    const std::string truncated = error_of(whole.substr(0, whole.size() / 2));
    EXPECT_TRUE(truncated.starts_with("d.jsonl.gz: compressed byte ")) << truncated;
    EXPECT_NE(truncated.find("the " + kind + " data is truncated"), std::string::npos) << truncated;

    // The stored checksum (gzip's CRC-32 trailer; zstd's frame checksum, on by default in its CLI)
    // catches a flipped bit even where the compressed stream still decodes.
    std::string flipped = whole;
    flipped[whole.size() - 6] ^= 0x10;
    const std::string corrupt = error_of(flipped);
    EXPECT_TRUE(corrupt.starts_with("d.jsonl.gz: compressed byte ")) << corrupt;
    EXPECT_NE(corrupt.find("corrupt " + kind + " data"), std::string::npos) << corrupt;

    const std::string trailing = error_of(whole + "junk");
    EXPECT_FALSE(trailing.empty()) << name << ": bytes after the stream must not be ignored";
    EXPECT_EQ(trailing.find('\n'), std::string::npos) << trailing;
  }
}

TEST(DataCompressed, DamagedFileLosesNothingAndNamesTheFile) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("frugal_compressed_test_" + std::to_string(::getpid()) + ".jsonl.gz");
  const std::string whole = test::read_file(test::fixture("datasets/messages.jsonl.gz"));
  {
    std::ofstream out(path, std::ios::binary);
    out << whole.substr(0, whole.size() - 10);
  }
  try {
    load_dataset(path.string(), {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_TRUE(std::string(e.what()).starts_with(path.string() + ": compressed byte ")) << e.what();
  }
  EXPECT_EQ(std::filesystem::file_size(path), whole.size() - 10);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace frugal
