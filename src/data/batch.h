// What the data pipeline hands the trainer: token rows ready for one forward/backward pass.
#pragma once
#include <cstdint>
#include <vector>

#include "core/ignore_target.h"

namespace frugal {

// One tokenized training example. `labels[i]` is the training target for predicting token i
// from tokens [0, i): labels == tokens where trained, kIgnoreTarget where masked (prompt tokens
// under completion-only loss). The shift to next-token targets happens when batching.
struct Example {
  std::vector<int32_t> tokens;
  std::vector<int32_t> labels;
};

// B rows of T tokens (T = longest row of this batch under dynamic padding, or sequence_len when
// packing). Flattened row-major: index b * T + t.
struct Batch {
  int64_t B = 0, T = 0;
  std::vector<int32_t> tokens;     // [B, T]; padding positions hold the pad id
  std::vector<int32_t> targets;    // [B, T]; next-token target of position t, or kIgnoreTarget
  std::vector<int32_t> positions;  // [B, T]; RoPE position, restarting at 0 for each packed sample
  std::vector<int32_t> segments;   // [B, T]; packed sample index within the row (attention never
                                   // crosses segments); -1 on padding
  int64_t target_count() const;    // positions with a real target
  int64_t token_count() const;     // non-padding positions
};

// One pad token without a target: what a data-parallel rank with no rows left runs, so that it
// still takes part in every collective of the step while contributing exactly zero gradient.
Batch placeholder_batch(int32_t pad_id);

}  // namespace frugal
