// The trainable state of a data-parallel run, sharded ZeRO-style across the ranks of a Communicator:
// The optimizer state is AdamW's moments (adamw_torch), SGD's momentum buffer (sgd with momentum; none
// without), or 8-bit AdamW's codes and block scales (adamw_8bit, stage 0 only: its blocks run along
// whole tensors, as bitsandbytes' do).
//   stage 0  every rank holds all values, gradients and optimizer state; gradients are all-reduced
//   stage 1  + each rank keeps the moments of its shard only, updates that shard, then all-gathers
//   stage 2  + gradients are reduce-scattered (each rank keeps the summed gradient of its shard);
//            under full fine-tuning block by block during the backward pass, freeing each block's
//            full gradients as soon as they are reduced
//   stage 3  + (full fine-tuning) each rank keeps only its shard of every block's linear weights,
//            gathered just before the pass uses a block and freed after it (FSDP-style). Norms,
//            embedding and head stay on every rank: they are small next to the blocks or needed at
//            both ends of the pass.
// Shards are shard_range() of each tensor, so values, moments and gradients of one rank line up.
// With one rank every stage is the plain single-process run, bit for bit.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/file_backed_allocator.h"
#include "parallel/communicator.h"
#include "model/training_pass.h"
#include "model/weights.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"
#include "train/optimizer_choice.h"

namespace frugal {

// One trainable tensor: its values and gradients as the model and the training pass hold them.
struct TrainableTensor {
  float* values = nullptr;
  float* grads = nullptr;
  size_t count = 0;
  // A block's linear weight (full fine-tuning): the matrices ZeRO-2 reduces layer by layer and
  // ZeRO-3 shards. Null for everything else.
  Matrix* value_matrix = nullptr;
  Matrix* grad_matrix = nullptr;
  int64_t layer = -1;
};

class ShardedTrainables final : public LayerParameterHooks {
 public:
  // `bf16_copies`: the pass matmuls with bf16 copies of the weights, which a gathered block needs too.
  ShardedTrainables(std::vector<TrainableTensor> tensors, Communicator& comm, int zero_stage, bool bf16_copies,
                    OptimizerChoice optimizer = {});

  size_t count() const { return count_; }  // all values of all tensors

  void start_step();          // zeroes the sharded gradient accumulators
  void micro_batch_done();    // ZeRO-2/3: reduce-scatters what the hooks did not, and zeroes it
  void reduce_gradients();    // ZeRO-0/1: all-reduces every gradient
  // The global gradient norm (torch's clip_grad_norm_ over the whole model), clipping as it does.
  double clip(double max_norm);
  // The optimizer on this rank's shard, then the values every rank needs are all-gathered. SGD takes
  // the learning rate and weight decay from `hyper` (and the momentum from the choice).
  void update(const AdamWHyper& hyper, int64_t step);
  // Bytes of optimizer state this rank holds (for the summary, next to the planner's item).
  size_t optimizer_state_bytes() const;
  // Whether every trained value and AdamW moment of every rank is finite (collective). A run checks
  // before it saves and when a step goes non-finite: NaN weights never recover, and never go to disk.
  bool all_finite();

  // Checkpoints: the arrays (values first, then the optimizer's), each handed whole in tensor order to
  // the root's `sink` (shards gathered one tensor at a time, so the root never holds a whole sharded
  // array). Collective: every rank calls stream for every array in the same order; other ranks pass a
  // null sink ...
  std::vector<CheckpointArray> checkpoint_arrays() const;
  void stream(size_t array, const ByteSink* sink);
  // ... and spread back: every rank passes one vector per array, filled on the root only.
  void scatter(std::vector<std::vector<uint8_t>>& arrays);
  // After the last save: the moments and gradient shards are not needed any more.
  void release_optimizer_state();
  // ZeRO-3: every block gathered (for writing the model at the end) / freed again.
  void gather_all_weights();
  void release_all_weights();

  // LayerParameterHooks (installed on the pass for stages 2 and 3 of full fine-tuning).
  void acquire_weights(int64_t layer) override;
  void release_weights(int64_t layer) override;
  void acquire_gradients(int64_t layer) override;
  void gradients_ready(int64_t layer) override;
  bool wants_hooks() const;

 private:
  struct Entry {
    TrainableTensor t;
    ShardRange shard;
    size_t state_at = 0;   // offset of this tensor's fp32 state in m_ / v_ (when it has any)
    bool quantized = false;  // adamw_8bit with 8-bit moments: offsets in q1_ / q2_ and absmax1_ / absmax2_
    size_t code_at = 0, block_at = 0;
    size_t grad_at = 0;    // offset of this tensor's shard in grad_shard_
    size_t shard_at = 0;   // offset of this tensor's shard in grad_shard_ / value_shard_
    bool layerwise = false;  // reduced by gradients_ready / sharded by stage 3 (gathered while its
                             // matrix holds data)
  };
  void reduce_scatter_into_shard(Entry& e);
  float* shard_values(Entry& e);
  std::vector<ParamSegment> segments();
  std::vector<float*> state_arrays();  // the fp32 per-tensor arrays after values (m_, then v_)
  // The state of checkpoint array `array` when it is one flat local array (adamw_8bit), else empty.
  std::span<const uint8_t> flat_state(size_t array) const;
  std::span<uint8_t> flat_state(size_t array);
  std::vector<std::span<float>> grad_views();

  Communicator& comm_;
  int stage_;
  bool bf16_copies_;
  size_t count_ = 0;
  std::vector<Entry> entries_;
  // Optimizer state: on the heap, or file-backed when paged.
  using StateFloats = std::vector<float, FileBackedAllocator<float>>;
  using StateBytes = std::vector<uint8_t, FileBackedAllocator<uint8_t>>;
  OptimizerChoice optim_;
  StateFloats m_, v_;              // fp32 state: whole (stage 0) or this rank's shards
  StateBytes q1_, q2_;             // adamw_8bit: codes of m and v of the 8-bit tensors
  StateFloats absmax1_, absmax2_;  // adamw_8bit: their block scales
  std::vector<float> grad_shard_;         // stage >= 2: summed gradients of this rank's shards
  std::vector<float> value_shard_;        // stage 3: the block weights' shards (master copy)
  std::vector<float> reduce_buffer_;      // one shard, for reduce-scatter before accumulating
  std::vector<float> gather_buffer_;      // root: one tensor, gathered for a checkpoint
  std::vector<std::vector<size_t>> by_layer_;  // entries of each block's linear weights
  // Storage of the blocks' weights and gradients while not in use: every block has the same shapes,
  // so one block's worth of buffers moves from block to block instead of being freed and allocated
  // again (which would leave freed memory resident in the allocator and churn page faults).
  std::vector<std::vector<float>> spare_;
  std::vector<float> take_spare(size_t count);
  void put_spare(std::vector<float>& v);
};

}  // namespace frugal
