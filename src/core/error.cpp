#include "core/error.h"

#include <cstdio>

#include "core/escape.h"

namespace frugal {

namespace {

// Messages quote what files contain (GGUF keys, tensor names, JSON strings); a newline or other
// control byte there must not break the one-line promise, nor reach the terminal raw.
std::string one_line(const std::string& msg) {
  std::string out;
  out.reserve(msg.size());
  for (const char c : msg) append_escaping_control(out, static_cast<unsigned char>(c));
  return out;
}

}  // namespace

void fail(const std::string& path, const std::string& where, const std::string& what) {
  std::string msg = path;
  if (!where.empty()) msg += ": " + where;
  msg += ": " + what;
  throw Error(one_line(msg));
}

void fail(const std::string& what) { throw Error(one_line(what)); }

std::string offset_str(uint64_t offset) { return "offset " + std::to_string(offset); }

}  // namespace frugal
