// One-shot pruning of a model's block projections (`frugal prune`): magnitude, Wanda or SparseGPT,
// unstructured or N:M, with the calibration of prune_calibration.h for the methods that need it.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/model.h"
#include "model/prune_mask.h"
#include "model/sparsegpt.h"

namespace frugal {

enum class PruneMethod { Magnitude, Wanda, SparseGpt };
PruneMethod parse_prune_method(const std::string& name);  // "magnitude", "wanda", "sparsegpt"
std::string prune_method_name(PruneMethod method);
bool prune_needs_calibration(PruneMethod method);

// Magnitude pruning's unit for an unstructured target: each whole matrix (llm-compressor's
// MagnitudePruningModifier) or each output row (as Wanda ranks). N:M is per row by nature.
enum class PruneScope { Matrix, Row };

struct PruneOptions {
  PruneMethod method = PruneMethod::Magnitude;
  SparsityTarget target;
  PruneScope magnitude_scope = PruneScope::Matrix;
  // Which projections of every block; the embedding and the output head are never pruned.
  std::vector<WeightRole> roles = {WeightRole::Wq,   WeightRole::Wk, WeightRole::Wv,  WeightRole::Wo,
                                   WeightRole::Gate, WeightRole::Up, WeightRole::Down};
  SparseGptOptions sparsegpt;
};

struct PruneLayerPlan {
  WeightRole role;
  int64_t layer;
  int64_t rows, cols;  // out, in features
};

// The projections `options` prunes, block by block. Fails, naming the layer, its width and the
// limit, when one cannot be pruned as asked (N:M on a row length that is not a multiple of M).
std::vector<PruneLayerPlan> prune_plan(const LlamaConfig& config, const PruneOptions& options);

struct PrunedLayer {
  PruneLayerPlan plan;
  int64_t zeros = 0;  // weights that are exactly zero afterwards
  double loss = 0;    // SparseGPT's reconstruction loss (0 for the others)
};

struct PruneReport {
  std::vector<PrunedLayer> layers;
  int64_t params = 0, zeros = 0;  // over the pruned projections
};

// Prunes `model` in place. `samples` (token ids) calibrate Wanda and SparseGPT and are ignored by
// magnitude pruning; `progress` is told each block as it is done.
PruneReport prune_model(Model& model, const PruneOptions& options, const std::vector<std::vector<int32_t>>& samples,
                        const std::function<void(int64_t layer, int64_t layers)>& progress = {});

// `count` consecutive samples of `length` tokens from the start of `tokens` (a tokenized text);
// fails naming `source`, the tokens it has and the tokens asked for when it is too short.
std::vector<std::vector<int32_t>> calibration_samples(const std::vector<int32_t>& tokens, int64_t count, int64_t length,
                                                      const std::string& source);

}  // namespace frugal
