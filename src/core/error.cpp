#include "core/error.h"

#include <cstdio>

namespace frugal {

namespace {

// Messages quote what files contain (GGUF keys, tensor names, JSON strings); a newline or other
// control byte there must not break the one-line promise, nor reach the terminal raw.
std::string one_line(const std::string& msg) {
  std::string out;
  out.reserve(msg.size());
  for (const char c : msg) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (b < 0x20 || b == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", b);
      out += hex;
    } else {
      out += c;
    }
  }
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
