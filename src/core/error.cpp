#include "core/error.h"

namespace frugal {

void fail(const std::string& path, const std::string& where, const std::string& what) {
  std::string msg = path;
  if (!where.empty()) msg += ": " + where;
  msg += ": " + what;
  throw Error(msg);
}

void fail(const std::string& what) { throw Error(what); }

std::string offset_str(uint64_t offset) { return "offset " + std::to_string(offset); }

}  // namespace frugal
