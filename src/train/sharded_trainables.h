// The trainable state of a data-parallel run, sharded ZeRO-style across the ranks of a Communicator:
//   stage 0  every rank holds all values, gradients and AdamW moments; gradients are all-reduced
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

#include "parallel/communicator.h"
#include "model/training_pass.h"
#include "model/weights.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"

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
  ShardedTrainables(std::vector<TrainableTensor> tensors, Communicator& comm, int zero_stage, bool bf16_copies);

  size_t count() const { return count_; }  // all values of all tensors

  void start_step();          // zeroes the sharded gradient accumulators
  void micro_batch_done();    // ZeRO-2/3: reduce-scatters what the hooks did not, and zeroes it
  void reduce_gradients();    // ZeRO-0/1: all-reduces every gradient
  // The global gradient norm (torch's clip_grad_norm_ over the whole model), clipping as it does.
  double clip(double max_norm);
  // AdamW on this rank's shard, then the values every rank needs are all-gathered.
  void update(const AdamWHyper& hyper, int64_t step);
  // Whether every trained value and AdamW moment of every rank is finite (collective). A run checks
  // before it saves and when a step goes non-finite: NaN weights never recover, and never go to disk.
  bool all_finite();

  // Checkpoints: one whole array in tensor order, handed to the root's `sink` tensor by tensor
  // (shards gathered one tensor at a time, so the root never holds a whole sharded array). Collective:
  // every rank calls it for the same arrays in the same order; other ranks pass a null sink ...
  void stream(TrainableArray array, const TrainableSink* sink);
  // ... and spread back: every rank passes arrays of count() floats, read on the root only.
  void scatter(std::vector<float>& values, std::vector<float>& m, std::vector<float>& v);
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
    size_t state_at = 0;   // offset of this tensor's moments in m_ / v_
    size_t shard_at = 0;   // offset of this tensor's shard in grad_shard_ / value_shard_
    bool layerwise = false;  // reduced by gradients_ready / sharded by stage 3 (gathered while its
                             // matrix holds data)
  };
  void reduce_scatter_into_shard(Entry& e);
  float* shard_values(Entry& e);
  std::vector<ParamSegment> segments();
  std::vector<std::span<float>> grad_views();

  Communicator& comm_;
  int stage_;
  bool bf16_copies_;
  size_t count_ = 0;
  std::vector<Entry> entries_;
  std::vector<float> m_, v_;              // moments: whole (stage 0) or this rank's shards
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
