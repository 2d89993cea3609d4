#include "data/compressed_text.h"

#include <zlib.h>
#include <zstd.h>

#include <string_view>

#include "core/error.h"
#include "core/read_file.h"

namespace frugal {

namespace {

bool starts_with_bytes(std::string_view bytes, std::string_view magic) {
  return bytes.substr(0, magic.size()) == magic;
}

const std::string_view kGzipMagic("\x1f\x8b", 2);
const std::string_view kZstdMagic("\x28\xb5\x2f\xfd", 4);

std::string where(size_t compressed_byte) {
  return "compressed byte " + std::to_string(compressed_byte);
}

// Output grows in steps of this much; the final size is unknown up front (gzip's size trailer is
// modulo 4 GiB and absent per member until the end).
constexpr size_t kOutputStep = size_t(1) << 20;

std::string gunzip(std::string_view in, const std::string& path) {
  z_stream s{};
  // 15 + 16: a gzip wrapper (not zlib's), the largest window.
  if (inflateInit2(&s, 15 + 16) != Z_OK) fail(path, "", "cannot start the gzip decoder");
  std::string out;
  size_t consumed = 0;  // bytes of `in` given to zlib so far, for the error's place
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  s.avail_in = 0;
  auto finish_error = [&](const std::string& problem) {
    const size_t at = consumed - s.avail_in;
    inflateEnd(&s);
    fail(path, where(at), problem);
  };
  while (true) {
    if (s.avail_in == 0 && consumed < in.size()) {
      // avail_in is 32-bit: a file over 4 GiB is given in slices.
      const size_t slice = std::min<size_t>(in.size() - consumed, size_t(1) << 30);
      s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + consumed));
      s.avail_in = static_cast<uInt>(slice);
      consumed += slice;
    }
    const size_t have = out.size();
    out.resize(have + kOutputStep);
    s.next_out = reinterpret_cast<Bytef*>(out.data() + have);
    s.avail_out = static_cast<uInt>(kOutputStep);
    const int rc = inflate(&s, Z_NO_FLUSH);
    out.resize(have + kOutputStep - s.avail_out);
    if (rc == Z_STREAM_END) {
      // Another member may follow (`cat a.gz b.gz`); anything else after a member is an error.
      const size_t at = consumed - s.avail_in;
      if (at == in.size()) break;
      if (!starts_with_bytes(in.substr(at), kGzipMagic)) finish_error("unexpected bytes after the end of the gzip data");
      inflateReset(&s);
      continue;
    }
    if (rc == Z_BUF_ERROR && s.avail_in == 0 && consumed == in.size())
      finish_error("the gzip data is truncated (the file ends inside it)");
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      finish_error(std::string("corrupt gzip data (zlib: ") + (s.msg ? s.msg : zError(rc)) + ")");
  }
  inflateEnd(&s);
  return out;
}

std::string unzstd(std::string_view in, const std::string& path) {
  ZSTD_DCtx* ctx = ZSTD_createDCtx();
  if (!ctx) fail(path, "", "cannot start the zstd decoder");
  std::string out;
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  size_t last = 0;  // 0 once a frame is complete and flushed; a hint of bytes still expected otherwise
  bool output_full = false;  // the decoder may still hold output for input it has already read
  while (input.pos < input.size || output_full) {
    const size_t have = out.size();
    out.resize(have + kOutputStep);
    ZSTD_outBuffer output{out.data() + have, kOutputStep, 0};
    last = ZSTD_decompressStream(ctx, &output, &input);
    out.resize(have + output.pos);
    if (ZSTD_isError(last)) {
      const std::string problem = std::string("corrupt zstd data (zstd: ") + ZSTD_getErrorName(last) + ")";
      ZSTD_freeDCtx(ctx);
      fail(path, where(input.pos), problem);
    }
    output_full = output.pos == output.size;
  }
  ZSTD_freeDCtx(ctx);
  if (last != 0) fail(path, where(in.size()), "the zstd data is truncated (the file ends inside a frame)");
  return out;
}

}  // namespace

std::string decompress_if_compressed(std::string bytes, const std::string& path) {
  if (starts_with_bytes(bytes, kGzipMagic)) return gunzip(bytes, path);
  if (starts_with_bytes(bytes, kZstdMagic)) return unzstd(bytes, path);
  return bytes;
}

std::string read_text_maybe_compressed(const std::string& path, const std::string& cannot_open,
                                       const std::string& cannot_read) {
  return decompress_if_compressed(read_whole_file(path, cannot_open, cannot_read), path);
}

}  // namespace frugal
