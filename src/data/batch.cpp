#include "data/batch.h"

namespace frugal {

int64_t Batch::target_count() const {
  int64_t n = 0;
  for (int32_t t : targets) n += t != kIgnoreTarget;
  return n;
}

int64_t Batch::token_count() const {
  int64_t n = 0;
  for (int32_t s : segments) n += s >= 0;
  return n;
}

}  // namespace frugal
