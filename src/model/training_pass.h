// One training forward + backward pass of the Llama model over a Batch, with gradients for LoRA
// adapters (frozen base) or for every weight (full fine-tuning). Activations are kept per layer,
// or, under gradient checkpointing, only each layer's input, the layer being re-run with the same
// forward code inside the backward pass. All buffers are sized once for the largest batch.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/precision.h"
#include "data/batch.h"
#include "kernels/cross_entropy.h"
#include "kernels/rope.h"
#include "model/block.h"
#include "model/lora.h"
#include "model/model.h"

namespace frugal {

struct TrainingPassOptions {
  Precision precision = Precision::F32;
  bool gradient_checkpointing = false;
  bool full_finetune = false;  // gradients for every weight instead of LoRA only
};

// Called by the pass around every use of a transformer block, so data-parallel sharding can hold
// only a shard of each block's weights (ZeRO-3: gathered just before use, freed after) and hand a
// block's weight gradients on (ZeRO-2/3: reduce-scattered, then freed) as soon as a micro-batch's
// backward is done with them. Without hooks every weight and gradient stays resident.
class LayerParameterHooks {
 public:
  virtual ~LayerParameterHooks() = default;
  virtual void acquire_weights(int64_t layer) = 0;  // block `layer`'s weights are in the model on return
  virtual void release_weights(int64_t layer) = 0;  // the pass is done with them for now
  // Full fine-tuning: block `layer`'s gradient matrices must be allocated and zero on return (before
  // its backward), and are complete for this micro-batch at gradients_ready.
  virtual void acquire_gradients(int64_t layer) = 0;
  virtual void gradients_ready(int64_t layer) = 0;
};

class TrainingPass {
 public:
  // `lora` may be null for full fine-tuning; the pass keeps pointers to model and adapter.
  TrainingPass(Model& model, LoraAdapter* lora, const TrainingPassOptions& options);
  ~TrainingPass();

  // Accumulates d(loss_sum * loss_scale) into the gradients; returns the summed loss and count.
  // dropout_key makes LoRA dropout masks reproducible (same key -> same masks).
  CrossEntropyResult forward_backward(const Batch& batch, float loss_scale, uint64_t dropout_key);
  // Loss only, no dropout, no gradients.
  CrossEntropyResult evaluate(const Batch& batch);

  void zero_grad();
  std::vector<float>& lora_grads() { return lora_grads_; }   // same layout as LoraAdapter::values
  LlamaWeights& full_grads() { return full_grads_; }         // full fine-tuning only
  // After an optimizer step changed the base weights (full fine-tuning), refresh derived copies.
  void weights_changed();
  void set_layer_hooks(LayerParameterHooks* hooks) { hooks_ = hooks; }

 private:
  void ensure_buffers(int64_t N);
  void ensure_layer_grads(int64_t l);  // re-allocates gradients a hook freed
  void acquire(int64_t l) { if (hooks_) hooks_->acquire_weights(l); }
  void release(int64_t l) { if (hooks_) hooks_->release_weights(l); }
  void start_batch(const Batch& batch, float* x);
  class Linears;    // the block's projections with LoRA (training_pass.cpp)
  class Attention;  // the block's attention over the batch's packed segments
  // The block's forward or backward for layer l; `training` applies dropout with `dropout_key`.
  void layer_forward(int64_t l, const float* x_in, float* x_out, BlockActivations& a, const Batch& batch,
                     bool training, uint64_t dropout_key);
  void layer_backward(int64_t l, float* dx, BlockActivations& a, const Batch& batch, uint64_t dropout_key);
  const float* dropped(const float* x, int64_t n, int64_t width, WeightRole role, int64_t l, uint64_t key);

  Model& model_;
  LoraAdapter* lora_;
  LayerParameterHooks* hooks_ = nullptr;
  TrainingPassOptions options_;
  const LlamaConfig& cfg_;
  std::unique_ptr<BlockRope> rope_;
  int64_t capacity_ = 0;  // tokens the buffers hold
  int64_t N_ = 0;         // tokens of the current batch
  std::vector<std::unique_ptr<BlockActivations>> acts_;  // one per layer, or one scratch under checkpointing
  std::vector<std::vector<float>> layer_inputs_;         // [L][N, C]
  BlockGradScratch grad_scratch_;
  std::vector<float> x_, x_final_norm_, inv_final_, d_final_;
  std::vector<float> dx_, tmp_, drop_buf_, lora_tmp_, lora_dx_;
  std::vector<float> lora_grads_;
  LlamaWeights full_grads_;
};

}  // namespace frugal
