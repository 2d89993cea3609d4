// A whole (small) file into memory: config files, datasets, tokenizer and adapter JSON, prompts.
// Large tensor files are mapped instead (mapped_file.h).
#pragma once
#include <string>

namespace frugal {

// Fails as "path: <cannot_open>" when the file cannot be opened and "path: <cannot_read>" on an I/O
// error while reading; callers word them for what the file is ("cannot open the config file").
std::string read_whole_file(const std::string& path, const std::string& cannot_open = "cannot open",
                            const std::string& cannot_read = "cannot read");

}  // namespace frugal
