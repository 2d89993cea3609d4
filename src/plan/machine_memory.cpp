#include "plan/machine_memory.h"

#include <fstream>
#include <sstream>
#include <string>

namespace frugal {

double machine_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key, unit;
    double value = 0;
    if (fields >> key >> value && key == "MemTotal:") return (fields >> unit && unit == "kB") ? value * 1024.0 : value;
  }
  return 0;
}

}  // namespace frugal
