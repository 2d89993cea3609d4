#include "kernels/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/ignore_target.h"
#include "kernels/matmul.h"

namespace frugal {

double softmax_xent_row(float* z, int64_t V, int32_t target, float scale) {
  float mx = z[0];
  for (int64_t i = 1; i < V; ++i) mx = std::max(mx, z[i]);
  const float target_logit = z[target] - mx;
  // One exp per entry, kept in place; the sum is accumulated in double (fp32 exp is exact enough,
  // the long sum is where precision would be lost).
  double sum = 0;
  for (int64_t i = 0; i < V; ++i) {
    z[i] = std::exp(z[i] - mx);
    sum += z[i];
  }
  const double nll = std::log(sum) - target_logit;
  const float k = static_cast<float>(scale / sum);
  for (int64_t i = 0; i < V; ++i) z[i] *= k;
  z[target] -= scale;
  return nll;
}

namespace {
CrossEntropyResult run(float* d_hidden, float* d_head, const float* hidden, const int32_t* targets, int64_t N,
                       const Matrix& head, float loss_scale, Precision precision, int64_t chunk_rows, bool backward) {
  const int64_t C = head.cols, V = head.rows;
  CrossEntropyResult r;
  // Only rows with a target need logits: completion-only batches skip most of the vocabulary work.
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < N; ++i)
    if (targets[i] != kIgnoreTarget) rows.push_back(i);
  if (backward) std::memset(d_hidden, 0, sizeof(float) * N * C);
  // Chunk buffers live across calls: reallocating 50 MB of logits per micro-batch cost ~10% of a
  // step in page faults.
  // (References bound here, so OpenMP worker threads below see this thread's buffers.)
  thread_local std::vector<float> x_buffer, logits_buffer, dx_buffer;
  std::vector<float>& x = x_buffer;
  std::vector<float>& logits = logits_buffer;
  std::vector<float>& dx = dx_buffer;
  x.resize(static_cast<size_t>(chunk_rows * C));
  logits.resize(static_cast<size_t>(chunk_rows * V));
  dx.resize(static_cast<size_t>(chunk_rows * C));
  for (size_t first = 0; first < rows.size(); first += chunk_rows) {
    const int64_t n = std::min<int64_t>(chunk_rows, static_cast<int64_t>(rows.size() - first));
    for (int64_t i = 0; i < n; ++i) std::memcpy(&x[i * C], hidden + rows[first + i] * C, sizeof(float) * C);
    matmul(logits.data(), x.data(), head, n, precision);
    double chunk_loss = 0;
#pragma omp parallel for reduction(+ : chunk_loss)
    for (int64_t i = 0; i < n; ++i)
      chunk_loss += softmax_xent_row(&logits[i * V], V, targets[rows[first + i]], loss_scale);
    r.loss_sum += chunk_loss;
    r.count += n;
    if (!backward) continue;
    matmul_backward_input(dx.data(), logits.data(), head, n, precision, false);
    for (int64_t i = 0; i < n; ++i) std::memcpy(d_hidden + rows[first + i] * C, &dx[i * C], sizeof(float) * C);
    if (d_head) matmul_backward_weight(d_head, logits.data(), x.data(), n, V, C);
  }
  return r;
}
}  // namespace

CrossEntropyResult cross_entropy_forward_backward(float* d_hidden, float* d_head, const float* hidden,
                                                  const int32_t* targets, int64_t N, const Matrix& head,
                                                  float loss_scale, Precision precision, int64_t chunk_rows) {
  return run(d_hidden, d_head, hidden, targets, N, head, loss_scale, precision, chunk_rows, true);
}

CrossEntropyResult cross_entropy_forward(const float* hidden, const int32_t* targets, int64_t N, const Matrix& head,
                                         Precision precision, int64_t chunk_rows) {
  return run(nullptr, nullptr, hidden, targets, N, head, 1.0f, precision, chunk_rows, false);
}

}  // namespace frugal
