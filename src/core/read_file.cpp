#include "core/read_file.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace frugal {

std::string read_whole_file(const std::string& path, const std::string& cannot_open, const std::string& cannot_read) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "", cannot_open);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail(path, "", cannot_read);
  return text.str();
}

}  // namespace frugal
