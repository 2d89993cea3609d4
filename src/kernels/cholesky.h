// Dense symmetric positive-definite algebra in double, for the second-order pruning and rounding
// methods (SparseGPT, GPTQ) whose Hessians are a few thousand columns wide at most.
#pragma once
#include <cstdint>

namespace frugal {

// a [n, n] row-major, symmetric positive definite: on return its lower triangle holds L with
// a = L L^T (the upper triangle is zeroed). Returns false, leaving `a` partly overwritten, when a
// pivot is not positive (the matrix is not positive definite to working precision).
bool cholesky_lower(double* a, int64_t n);

// l [n, n] holds L from cholesky_lower; on return it holds (L L^T)^-1, both triangles filled.
void cholesky_inverse(double* l, int64_t n);

}  // namespace frugal
