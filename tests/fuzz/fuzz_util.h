// What every fuzz target shares. The readers take paths, so an input becomes a file in a scratch
// folder of this process; an input made of several files is split at a marker line; and
// frugal::Error is the normal answer to bad input. Anything else escaping (another exception type,
// an Error whose message spans several lines) aborts, which libFuzzer reports as a finding: bad
// input must give one line naming the problem, never a crash.
#pragma once
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace frugal::fuzz {

// A folder of this process, in memory when /dev/shm exists (a fuzzer writes files thousands of times
// a second), removed at exit.
inline const std::string& scratch_dir() {
  // Never destroyed: the exit handler that removes the folder runs after static destructors would.
  static const std::string* dir = [] {
    const std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    auto* d = new std::string(base + "/frugal-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(*d);
    std::atexit([] { std::error_code ec; std::filesystem::remove_all(scratch_dir(), ec); });
    return d;
  }();
  return *dir;
}

inline void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) { std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str()); std::abort(); }
}

// "a\n--frugal-fuzz-part--\nb" -> {"a", "b"}; always `count` parts (missing ones empty), the last
// one takes the rest. Seeds are the real files joined by this line (tests/fuzz/README.md).
inline std::vector<std::string_view> split_parts(std::string_view data, size_t count) {
  static constexpr std::string_view kMarker = "\n--frugal-fuzz-part--\n";
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < count) {
    const size_t at = data.find(kMarker);
    if (at == std::string_view::npos) break;
    parts.push_back(data.substr(0, at));
    data.remove_prefix(at + kMarker.size());
  }
  parts.push_back(data);
  parts.resize(count);
  return parts;
}

// Runs `read`; frugal::Error with a one-line message is a normal outcome.
template <typename Read>
void expect_clean(Read&& read) {
  try {
    read();
  } catch (const Error& e) {
    const std::string_view message = e.what();
    if (message.empty() || message.find('\n') != std::string_view::npos) {
      std::fprintf(stderr, "fuzz: the error is not one line: [%s]\n", e.what());
      std::abort();
    }
  }
}

}  // namespace frugal::fuzz
