// Calibration for one-shot pruning, layer by layer as SparseGPT runs it: every calibration sample
// goes through the embedding once, then through one block at a time. A block is run twice: first
// with its weights as they are, to collect what its projections see (the sum of x x^T for
// SparseGPT, of x_j^2 for Wanda), then, once its projections are pruned, again to give the next
// block its input. So each block is calibrated on the outputs of the already-pruned blocks before it
// (llm-compressor's sequential pipeline with propagate_error). The block is THE block (block.h),
// computed in fp32, with causal attention over each sample on its own.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "model/block.h"
#include "model/model.h"

namespace frugal {

// Projections that read the same tensor share their statistics: q, k, v read the attention norm's
// output; o the attention output; gate and up the FFN norm's output; down the FFN hidden state.
enum class LinearInput { AttentionIn, AttentionOut, FfnIn, FfnHidden };
LinearInput linear_input_of(WeightRole role);

// What the calibration inputs of one projection amount to.
struct InputStatistics {
  int64_t width = 0;
  bool want_hessian = false;
  std::vector<double> xtx;      // [width, width] sum over tokens of x x^T (want_hessian)
  std::vector<double> sq_norm;  // [width] sum over tokens of x_j^2
  int64_t samples = 0, tokens = 0;
  void add(const float* x, int64_t N);  // x [N, width]: one sample
};

class LayerCalibration {
 public:
  // Embeds the samples (token ids in range); the model must outlive this.
  LayerCalibration(const Model& model, const std::vector<std::vector<int32_t>>& samples);
  ~LayerCalibration();
  // Runs block `layer` on every sample, adding to the statistics in `stats` (the inputs it names,
  // each already given its width and whether it wants the Hessian).
  void collect(int64_t layer, std::map<LinearInput, InputStatistics>& stats);
  // Runs block `layer`, with its weights as they are now, on every sample; its outputs become the
  // inputs of block `layer + 1`.
  void advance(int64_t layer);

 private:
  void run(int64_t layer, BlockLinears& linears, float* out, int64_t sample);
  const Model& model_;
  std::vector<int64_t> lengths_;
  std::vector<std::vector<float>> x_;  // per sample [T, C]: the current block's input
  std::vector<float> out_;             // [T, C]
  std::vector<int32_t> positions_, segments_;
  BlockActivations acts_;
  std::unique_ptr<BlockRope> rope_;
  int64_t rope_length_ = 0;
};

}  // namespace frugal
