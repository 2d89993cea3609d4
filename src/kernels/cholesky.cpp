#include "kernels/cholesky.h"

#include <cmath>
#include <vector>

namespace frugal {

// Row-oriented (Cholesky-Banachiewicz): row i of L from the rows above it, each inner product a
// contiguous run of both rows.
bool cholesky_lower(double* a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    double* ri = a + i * n;
    for (int64_t j = 0; j <= i; ++j) {
      const double* rj = a + j * n;
      double s = ri[j];
      for (int64_t k = 0; k < j; ++k) s -= ri[k] * rj[k];
      if (j == i) {
        if (!(s > 0.0)) return false;
        ri[i] = std::sqrt(s);
      } else {
        ri[j] = s / rj[j];
      }
    }
    for (int64_t j = i + 1; j < n; ++j) ri[j] = 0.0;
  }
  return true;
}

// (L L^T)^-1 = L^-T L^-1: first M = L^-1 (lower triangular, by forward substitution row by row),
// then the symmetric product M^T M, whose entry (i, j) sums over rows k >= max(i, j) of M.
void cholesky_inverse(double* l, int64_t n) {
  std::vector<double> m(static_cast<size_t>(n * n), 0.0);  // [n, n] L^-1
  for (int64_t i = 0; i < n; ++i) {
    const double* li = l + i * n;
    double* mi = &m[i * n];
    mi[i] = 1.0 / li[i];
    // Row i of L^-1: L[i, :] M[:, j] = 0 for j < i, so M[i, j] = -sum_{k=j}^{i-1} L[i, k] M[k, j] / L[i, i].
    for (int64_t k = 0; k < i; ++k) {
      const double f = li[k];
      if (f == 0.0) continue;
      const double* mk = &m[k * n];
      for (int64_t j = 0; j <= k; ++j) mi[j] -= f * mk[j];
    }
    for (int64_t j = 0; j < i; ++j) mi[j] *= mi[i];
  }
  for (int64_t i = 0; i < n * n; ++i) l[i] = 0.0;
  for (int64_t k = 0; k < n; ++k) {  // add row k of M's outer product with itself
    const double* mk = &m[k * n];
    for (int64_t i = 0; i <= k; ++i) {
      const double f = mk[i];
      if (f == 0.0) continue;
      double* out = l + i * n;
      for (int64_t j = 0; j <= i; ++j) out[j] += f * mk[j];
    }
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < i; ++j) l[j * n + i] = l[i * n + j];
}

}  // namespace frugal
