// The inference driver's projections with LoRA adapters kept apart from the base weights:
// y = x W^T + scaling * (x A^T) B^T, the base product once for all N rows and each adapter's
// low-rank product on its own rows. One base in memory then serves many adapters, and a batch
// whose sequences chose different adapters (or none) is still one base product per projection.
#pragma once
#include <cstdint>
#include <vector>

#include "core/precision.h"
#include "model/block.h"
#include "model/lora.h"

namespace frugal {

// Rows [first_row, first_row + rows) of a call take `adapter` (null: the base alone).
struct AdapterRows {
  int64_t first_row = 0, rows = 0;
  const LoraAdapter* adapter = nullptr;
};

class AdapterLinears : public BlockLinears {
 public:
  // The groups must not overlap; rows in no group get the base alone.
  AdapterLinears(const LlamaWeights& weights, Precision precision, std::vector<AdapterRows> groups)
      : weights_(weights), precision_(precision), groups_(std::move(groups)) {}
  void forward(float* y, const float* x, WeightRole role, int64_t layer, int64_t N, BlockActivations& a) override;

 private:
  const LlamaWeights& weights_;
  Precision precision_;
  std::vector<AdapterRows> groups_;
  std::vector<float> t_;  // [rows, r]   x A^T for one group
};

}  // namespace frugal
