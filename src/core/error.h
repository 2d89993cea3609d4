// One exception type for everything a user can get wrong (bad files, bad options, bad text).
// It carries where the problem is so the CLI can print one line: "file: place: problem".
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace frugal {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "path: where: what" — `where` is an offset, a field name or a line number, whatever locates it.
// Control bytes in the message (a newline in a key read from a file) are escaped: always one line.
[[noreturn]] void fail(const std::string& path, const std::string& where, const std::string& what);
[[noreturn]] void fail(const std::string& what);

// Throws through `fail` unless `condition` holds.
inline void require(bool condition, const std::string& path, const std::string& where, const std::string& what) {
  if (!condition) fail(path, where, what);
}

std::string offset_str(uint64_t offset);  // "offset 1234"

}  // namespace frugal
