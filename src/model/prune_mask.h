// Which weights a pruning method zeroes, from a score per weight (lowest scores go first). The
// selection rules are llm-compressor's (0.11), so the masks can be compared one for one:
//   per matrix  the k = floor(s * rows * cols) lowest scores, and every score tied with the k-th
//               (MagnitudePruningModifier's "unstructured" mask: kept iff score > k-th lowest);
//   per row     the floor(s * cols) lowest of each row, ties taken in column order (Wanda's stable sort);
//   N:M         the N lowest of every M consecutive columns of a row, ties in column order.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace frugal {

// What to reach: a fraction of each matrix (`sparsity`), or N zeros in every M consecutive weights
// of a row (`n`:`m`, SparseGPT's and llm-compressor's reading; 2:4 and 4:8 also read "N kept of M").
struct SparsityTarget {
  double sparsity = 0.5;
  int64_t n = 0, m = 0;  // m == 0: unstructured
  bool structured() const { return m > 0; }
  double fraction() const { return structured() ? static_cast<double>(n) / static_cast<double>(m) : sparsity; }
  std::string describe() const;  // "50%" or "2:4"
};

// Fails with one line naming the value and the limit: sparsity outside (0, 1), N < 1, N >= M.
void validate_sparsity_target(const SparsityTarget& t);

// pruned[r * cols + c] = 1 for the weights the rule zeroes; scores [rows, cols].
void select_lowest_per_matrix(std::vector<uint8_t>& pruned, const float* scores, int64_t rows, int64_t cols,
                              double sparsity);
void select_lowest_per_row(std::vector<uint8_t>& pruned, const float* scores, int64_t rows, int64_t cols,
                           double sparsity);
void select_lowest_n_of_m(std::vector<uint8_t>& pruned, const float* scores, int64_t rows, int64_t cols, int64_t n,
                          int64_t m);

// How many to take out of `count` at fraction `s`, as Python's int(count * s) rounds it.
int64_t prune_count(int64_t count, double s);

}  // namespace frugal
