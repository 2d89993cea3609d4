// SparseGPT (Frantar & Alistarh 2023): one linear layer pruned to a sparsity target with the
// optimal-brain-surgeon update of the weights it keeps, from the Hessian H = sum of x x^T over the
// calibration inputs of that layer. Conventions follow llm-compressor 0.11's sparsify_weight:
// columns whose H diagonal is zero are dead (weights zeroed, diagonal set to 1); dampening adds
// `dampening` times the mean diagonal; the inverse Hessian's upper Cholesky factor U (H^-1 = U^T U)
// drives column blocks of `block_size`; an unstructured mask is chosen once per block over all its
// rows (every w^2 / U_cc^2 at or below the floor(s * rows * block)-th lowest, counting from 0), an
// N:M mask every M columns inside the block from the weights as updated so far.
#pragma once
#include <cstdint>
#include <vector>

#include "model/prune_mask.h"

namespace frugal {

struct SparseGptOptions {
  int64_t block_size = 128;
  double dampening = 0.01;  // fraction of the mean diagonal of H added to it
};

// w [rows, cols] is pruned in place; h [cols, cols] (consumed) is X^T X in any positive scale.
// Returns the layer's reconstruction loss sum (w - q)^2 / U_cc^2 / 2, as llm-compressor logs it.
// Fails with a hint when the dampened Hessian is not positive definite.
double sparsegpt_prune(float* w, int64_t rows, int64_t cols, std::vector<double>& h, const SparsityTarget& target,
                       const SparseGptOptions& options);

}  // namespace frugal
