// Dataset files as users keep them: plain, gzip- or zstd-compressed (`data.jsonl.gz`, `.zst`). The
// compression is told by the file's magic bytes, not its name, so a renamed file still reads.
#pragma once
#include <string>

namespace frugal {

// The file's text, decompressed when it starts with a gzip (1f 8b) or zstd (28 b5 2f fd) header.
// Concatenated members/frames are read one after another, as `zcat` and `zstdcat` do. A corrupt or
// truncated stream fails as "path: compressed byte N: problem"; an unreadable file as read_whole_file
// words it with `cannot_open` / `cannot_read`.
std::string read_text_maybe_compressed(const std::string& path, const std::string& cannot_open,
                                       const std::string& cannot_read);

// The same for bytes already in memory; `path` only names them in errors.
std::string decompress_if_compressed(std::string bytes, const std::string& path);

}  // namespace frugal
