#include "model/prune_mask.h"

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "core/error.h"

namespace frugal {

std::string SparsityTarget::describe() const {
  char buf[64];
  if (structured())
    std::snprintf(buf, sizeof buf, "%lld:%lld", static_cast<long long>(n), static_cast<long long>(m));
  else
    std::snprintf(buf, sizeof buf, "%g%%", 100.0 * sparsity);
  return buf;
}

void validate_sparsity_target(const SparsityTarget& t) {
  if (t.structured()) {
    const std::string p = std::to_string(t.n) + ":" + std::to_string(t.m);
    if (t.m < 2 || t.m > 64) fail("--pattern", p, "M must be between 2 and 64");
    if (t.n < 1) fail("--pattern", p, "N must be at least 1");
    if (t.n >= t.m) fail("--pattern", p, "N (weights zeroed per group) must be less than M = " + std::to_string(t.m));
    return;
  }
  char value[32];
  std::snprintf(value, sizeof value, "%g", t.sparsity);
  if (!(t.sparsity > 0.0 && t.sparsity < 1.0))
    fail("--sparsity", value, "must be inside (0, 1): the fraction of each matrix set to zero");
}

int64_t prune_count(int64_t count, double s) {
  return static_cast<int64_t>(static_cast<double>(count) * s);
}

void select_lowest_per_matrix(std::vector<uint8_t>& pruned, const float* scores, int64_t rows, int64_t cols,
                              double sparsity) {
  const int64_t total = rows * cols, k = prune_count(total, sparsity);
  pruned.assign(static_cast<size_t>(total), 0);
  if (k <= 0) return;
  std::vector<float> sorted(scores, scores + total);
  std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end());
  const float threshold = sorted[static_cast<size_t>(k - 1)];
  for (int64_t i = 0; i < total; ++i) pruned[i] = !(scores[i] > threshold);
}

void select_lowest_per_row(std::vector<uint8_t>& pruned, const float* scores, int64_t rows, int64_t cols,
                           double sparsity) {
  const int64_t k = prune_count(cols, sparsity);
  pruned.assign(static_cast<size_t>(rows * cols), 0);
  std::vector<int64_t> order(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = scores + r * cols;
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [s](int64_t a, int64_t b) { return s[a] < s[b]; });
    for (int64_t i = 0; i < k; ++i) pruned[r * cols + order[i]] = 1;
  }
}

void select_lowest_n_of_m(std::vector<uint8_t>& pruned, const float* scores, int64_t rows, int64_t cols, int64_t n,
                          int64_t m) {
  pruned.assign(static_cast<size_t>(rows * cols), 0);
  std::vector<int64_t> order(static_cast<size_t>(m));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c0 = 0; c0 < cols; c0 += m) {
      const int64_t width = std::min(m, cols - c0);
      const float* s = scores + r * cols + c0;
      order.resize(static_cast<size_t>(width));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [s](int64_t a, int64_t b) { return s[a] < s[b]; });
      for (int64_t i = 0; i < std::min(n, width); ++i) pruned[r * cols + c0 + order[i]] = 1;
    }
}

}  // namespace frugal
