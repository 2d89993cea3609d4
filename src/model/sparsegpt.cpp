#include "model/sparsegpt.h"

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "kernels/cholesky.h"

namespace frugal {

namespace {

// U with H^-1 = U^T U, from the dampened H, into `u` [cols, cols] (row-major, upper triangle).
void inverse_hessian_factor(std::vector<double>& h, int64_t cols, double dampening, std::vector<double>& u) {
  double mean_diag = 0;
  for (int64_t i = 0; i < cols; ++i) mean_diag += h[i * cols + i];
  mean_diag /= static_cast<double>(cols);
  for (int64_t i = 0; i < cols; ++i) h[i * cols + i] += dampening * mean_diag;
  char damp[64];
  std::snprintf(damp, sizeof damp, "%g", dampening);
  const std::string hint = "the dampened input Hessian is not positive definite; raise --dampening (now " +
                           std::string(damp) + ") or give more calibration samples";
  if (!cholesky_lower(h.data(), cols)) fail("sparsegpt", "", hint);
  cholesky_inverse(h.data(), cols);
  if (!cholesky_lower(h.data(), cols)) fail("sparsegpt", "", hint);
  u.assign(static_cast<size_t>(cols * cols), 0.0);
  for (int64_t i = 0; i < cols; ++i)  // U = L^T
    for (int64_t j = 0; j <= i; ++j) u[j * cols + i] = h[i * cols + j];
}

}  // namespace

double sparsegpt_prune(float* w, int64_t rows, int64_t cols, std::vector<double>& h, const SparsityTarget& target,
                       const SparseGptOptions& options) {
  std::vector<double> W(w, w + rows * cols);  // [rows, cols] worked on in double
  for (int64_t c = 0; c < cols; ++c)
    if (h[c * cols + c] == 0.0) {  // an input that never fired: nothing to reconstruct from
      h[c * cols + c] = 1.0;
      for (int64_t r = 0; r < rows; ++r) W[r * cols + c] = 0.0;
    }
  std::vector<double> U;
  inverse_hessian_factor(h, cols, options.dampening, U);
  std::vector<double> row_loss(static_cast<size_t>(rows), 0.0);
  std::vector<uint8_t> mask;  // [rows, block] chosen weights of the current block (unstructured)
  std::vector<double> scores;
  const int64_t B = std::max<int64_t>(1, options.block_size);
  for (int64_t c1 = 0; c1 < cols; c1 += B) {
    const int64_t c2 = std::min(c1 + B, cols), count = c2 - c1;
    if (!target.structured()) {
      scores.resize(static_cast<size_t>(rows * count));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < count; ++i) {
          const double d = U[(c1 + i) * cols + c1 + i], x = W[r * cols + c1 + i];
          scores[r * count + i] = x * x / (d * d);
        }
      std::vector<double> sorted = scores;
      const int64_t k = prune_count(rows * count, target.sparsity);
      std::nth_element(sorted.begin(), sorted.begin() + k, sorted.end());
      const double threshold = sorted[static_cast<size_t>(k)];
      mask.resize(scores.size());
      for (size_t i = 0; i < scores.size(); ++i) mask[i] = scores[i] <= threshold;
    }
    // Every row is independent from here to the end of the block: its own columns, its own update.
#pragma omp parallel for schedule(dynamic, 8)
    for (int64_t r = 0; r < rows; ++r) {
      double* wr = &W[r * cols];
      std::vector<uint8_t> drop(static_cast<size_t>(count), 0);
      std::vector<double> err(static_cast<size_t>(count), 0.0);
      if (!target.structured())
        for (int64_t i = 0; i < count; ++i) drop[i] = mask[r * count + i];
      for (int64_t i = 0; i < count; ++i) {
        const int64_t c = c1 + i;
        if (target.structured() && i % target.m == 0) {
          // The N lowest w^2 / U_cc^2 of the next M columns (ties in column order).
          const int64_t width = std::min(target.m, count - i);
          int64_t order[64];
          double s[64];
          for (int64_t j = 0; j < width; ++j) {
            const double d = U[(c + j) * cols + c + j];
            s[j] = wr[c + j] * wr[c + j] / (d * d);
            order[j] = j;
          }
          std::stable_sort(order, order + width, [&s](int64_t a, int64_t b) { return s[a] < s[b]; });
          for (int64_t j = 0; j < std::min(target.n, width); ++j) drop[i + order[j]] = 1;
        }
        const double d = U[c * cols + c];
        const double q = drop[i] ? 0.0 : wr[c];
        const double e = (wr[c] - q) / d;
        row_loss[r] += (wr[c] - q) * (wr[c] - q) / (d * d) / 2;
        err[i] = e;
        const double* uc = &U[c * cols];
        for (int64_t j = c; j < c2; ++j) wr[j] -= e * uc[j];  // the kept weights of the block absorb it
        wr[c] = q;
      }
      // The rest of the row absorbs the block's error at once (the lazy batch update).
      for (int64_t i = 0; i < count; ++i) {
        if (err[i] == 0.0) continue;
        const double* uc = &U[(c1 + i) * cols];
        for (int64_t j = c2; j < cols; ++j) wr[j] -= err[i] * uc[j];
      }
    }
  }
  double loss = 0;
  for (int64_t i = 0; i < rows * cols; ++i) w[i] = static_cast<float>(W[i]);
  for (double l : row_loss) loss += l;
  return loss;
}

}  // namespace frugal
