// Training checkpoints: everything needed to continue a run exactly where it stopped.
//
// A checkpoint is a folder, written completely under `<dir>.tmp-<pid>`, fsynced, then renamed into
// place; an older folder of the same name is first renamed aside, so at every instant either the old
// or the new complete checkpoint is on disk. `<output_dir>/latest` names the newest one and is itself
// replaced atomically. Contents:
//   trainable.safetensors  values F32 [count] and the optimizer state (see CheckpointArray)
//   config.yaml            the resolved training config
//   trainer_state.json     step, epoch, data position, RNG state, loss history, the size and CRC-32C
//                          of the other files, and a CRC-32C of its own content
#pragma once
#include "core/atomic_file.h"
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "format/safetensors.h"
#include "train/metrics.h"

namespace frugal {

struct TrainerState {
  int64_t step = 0;            // optimizer steps completed
  int64_t epoch = 0;           // epoch in progress, 0-based
  int64_t data_position = 0;   // where the next micro-batch starts within the epoch
  int64_t tokens = 0;          // training tokens processed so far (for tokens/s and the summary)
  double elapsed_seconds = 0;  // training time so far, across resumes
  std::vector<uint64_t> rng_state;
  std::vector<LossPoint> train_loss, eval_loss;  // history, for the loss plot after a resume
  // What the trainable arrays are (e.g. "lora r=8 targets=q_proj,v_proj layers=30 values=1234"):
  // loading into a different layout is refused by name, not only by size.
  std::string layout;
  std::string config_yaml;  // train_config_to_yaml of the run
  int64_t world_size = 1;   // data-parallel ranks of the run that wrote it (sets what data_position means)
  int64_t skipped_steps = 0;  // steps whose update was skipped (non-finite loss or gradient norm)
};

// One array of a checkpoint's tensors file: the trained values ("values", F32 [trainable count]) and
// the optimizer's state under the optimizer's own names (AdamW: exp_avg and exp_avg_sq; SGD with
// momentum: momentum_buffer; 8-bit AdamW: bitsandbytes' state1 and state2 (U8), absmax1 and absmax2,
// and exp_avg / exp_avg_sq of the tensors too small for 8 bits). The file stores them by name.
struct CheckpointArray {
  std::string name;
  SafeDtype dtype = SafeDtype::F32;
  size_t count = 0;  // elements
};
// Hands save_checkpoint one array's bytes, in order, in pieces of any size (called once per array): so
// arrays that are not whole in memory (sharded over ranks) are written without first being assembled.
using ByteSink = std::function<void(std::span<const uint8_t>)>;
using ArraySource = std::function<void(size_t array, const ByteSink& sink)>;  // array: index in the list
// The order save_checkpoint asks `source` for the arrays (the file's order): ranks that take part in
// gathering them call in the same order.
std::vector<size_t> checkpoint_stream_order(std::span<const CheckpointArray> arrays);
// AdamW's list: values, exp_avg and exp_avg_sq, F32 [count] each.
std::vector<CheckpointArray> adamw_checkpoint_arrays(size_t count);

// Writes the checkpoint folder `dir` atomically (see above): `arrays` (one of them "values"), each
// given by `source`. The tensors file is checksummed as it is written.
void save_checkpoint(const std::string& dir, const TrainerState& state, std::span<const CheckpointArray> arrays,
                     const ArraySource& source);
// AdamW's arrays from whole fp32 arrays; values, m and v have the same length.
void save_checkpoint(const std::string& dir, const TrainerState& state, std::span<const float> values,
                     std::span<const float> m, std::span<const float> v);

// The trainer's call: saves `<output_dir>/checkpoint-<state.step>`, points `latest` at it, then keeps
// only the `save_total_limit` newest checkpoints (0 = all) and clears leftovers of interrupted saves.
// Returns the checkpoint folder.
std::string save_training_checkpoint(const std::string& output_dir, const TrainerState& state,
                                     std::span<const float> values, std::span<const float> m, std::span<const float> v,
                                     int64_t save_total_limit);
std::string save_training_checkpoint(const std::string& output_dir, const TrainerState& state,
                                     std::span<const CheckpointArray> arrays, const ArraySource& source,
                                     int64_t save_total_limit);

// What saves killed part-way left in output_dir: checkpoint folders being written (or renamed aside,
// when their checkpoint is back in place) and temporary files such as `latest`'s, of dead writers only.
void clear_interrupted_saves(const std::string& output_dir);

// Reads a checkpoint's `arrays` into `dest` (one byte span per array, of count x dtype size bytes): the
// file must hold exactly these names, dtypes and counts (and `expected_layout`, when not empty, the
// saved layout). Every file's size and checksum is verified first; any problem throws frugal::Error
// naming the file. Nothing is written to `dest` unless the whole checkpoint is valid.
TrainerState load_checkpoint(const std::string& dir, std::span<const CheckpointArray> arrays,
                             std::span<const std::span<uint8_t>> dest, const std::string& expected_layout = "");
// AdamW's arrays into `values`, `m` and `v`, whose lengths must equal the saved ones.
TrainerState load_checkpoint(const std::string& dir, std::span<float> values, std::span<float> m, std::span<float> v,
                             const std::string& expected_layout = "");

// The newest complete checkpoint in output_dir: the one `latest` names, else (after a crash between
// two renames) its renamed-aside copy, else the highest-numbered checkpoint-N folder. nullopt if none.
std::optional<std::string> latest_checkpoint(const std::string& output_dir);

// TrainConfig::resume_from_checkpoint: "latest" -> latest_checkpoint(output_dir) (an error when there
// is none), anything else is a checkpoint folder that must exist.
std::string resolve_checkpoint(const std::string& spec, const std::string& output_dir);


// CRC-32C (Castagnoli), with the SSE4.2 instruction when built for it. crc32c("123456789") = 0xE3069283.
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);

// Test seam: when set, called with the name of each stage of save_checkpoint and
// save_training_checkpoint, so a test can end the process there and check what a crash leaves.
void set_checkpoint_stage_hook(void (*hook)(const char* stage));

}  // namespace frugal
