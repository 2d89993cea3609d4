// Memory of a fine-tuning (or inference) run, as named components with byte sizes, so a table can
// be printed and each figure checked. Two profiles share the output type:
//  - "lecture": the generic accounting of the course material frugal is built from (weights +
//    gradients + optimizer state + activations + temporary buffers), per data-parallel rank;
//  - "frugal": the buffers frugal's own training pass allocates (frugal_runtime.h).
// Sizes are bytes; the convention for "GB" in reports is decimal (1e9), as in the slides.
#pragma once
#include <string>
#include <vector>

#include "plan/plan_inputs.h"

namespace frugal {

struct MemoryItem {
  std::string name;  // "weights", "gradients", ... (stable: JSON keys and tests use them)
  double bytes = 0;
  std::string detail;  // how it was counted
};

struct MemoryBreakdown {
  std::string profile;
  std::vector<MemoryItem> items;  // resident together during a training step (or generation)
  double load_phase_bytes = 0;    // resident while loading the model, when that is a separate peak
  std::vector<std::string> notes;

  double total() const;
  double peak() const { return total() > load_phase_bytes ? total() : load_phase_bytes; }
  double bytes_of(const std::string& name) const;  // 0 when there is no such item
};

// Activation memory of one transformer block, following the lecture's formula (Korthikanti et al.
// 2022, "Reducing Activation Recomputation in Large Transformer Models", eq. 1, with Nb bytes per
// value instead of 2): (16 Nb + 2) s b h + (2 Nb + 1) a s^2 b, h = hidden size, a = heads.
// Memory-efficient attention never stores the a s^2 b score/probability tensors; it keeps an fp32
// log-sum-exp per query and head instead (4 a s b).
double block_activation_bytes(const LlamaConfig& config, int64_t seq_len, int64_t micro_batch, int nb,
                              bool memory_efficient_attention);
// All blocks: L times the above; with gradient checkpointing only each block's input (s b h Nb)
// plus one block's full activations while it is recomputed.
double activation_bytes(const LlamaConfig& config, int64_t seq_len, int64_t micro_batch, int nb,
                        bool gradient_checkpointing, bool memory_efficient_attention);
// Keys and values of every layer for `seq_len` positions: 2 L s b KVH D Nb.
double kv_cache_bytes(const LlamaConfig& config, int64_t seq_len, int64_t batch, int nb);
// AdamW: two fp32 moments (8); 8-bit AdamW: two 8-bit moments plus an fp32 absmax per block of
// 2048 (bitsandbytes' blockwise optimizers); SGD: none; SGD with momentum: one fp32 buffer.
// Master weights under mixed precision are counted separately.
double optimizer_state_bytes_per_parameter(Optimizer optimizer);

// The lecture's generic model.
MemoryBreakdown lecture_memory(const PlanInputs& inputs);
// Validates the inputs, then the profile they ask for.
MemoryBreakdown plan_memory(const PlanInputs& inputs);

}  // namespace frugal
