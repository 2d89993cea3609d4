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



Batch placeholder_batch(int32_t pad_id) {
  Batch b;
  b.B = b.T = 1;
  b.tokens = {pad_id};
  b.targets = {kIgnoreTarget};
  b.positions = {0};
  b.segments = {0};
  return b;
}

}  // namespace frugal
