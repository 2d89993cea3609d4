#include "model/adapter_linears.h"

#include "core/error.h"
#include "kernels/gemm.h"
#include "kernels/matmul.h"

namespace frugal {

void AdapterLinears::forward(float* y, const float* x, WeightRole role, int64_t layer, int64_t N, BlockActivations&) {
  matmul(y, x, linear_weight(weights_, role, layer), N, precision_);
  for (const AdapterRows& g : groups_) {
    if (!g.adapter || g.rows <= 0) continue;
    if (g.first_row < 0 || g.first_row + g.rows > N) fail("adapter rows lie outside the call's " + std::to_string(N) + " tokens");
    const LoraLayer* ll = g.adapter->find(role, layer);
    if (!ll) continue;
    const int64_t r = g.adapter->config.r;
    t_.resize(static_cast<size_t>(g.rows * r));
    // Same order of operations as the training pass (t = x A^T, scaled, then y += t B^T), in fp32
    // whatever the base's precision: the adapter's values are fp32 and small.
    gemm_f32(t_.data(), x + g.first_row * ll->in, g.adapter->a(*ll), {g.rows, r, ll->in, false, true, false});
    const float s = g.adapter->config.scaling();
    for (float& v : t_) v *= s;
    gemm_f32(y + g.first_row * ll->out, t_.data(), g.adapter->b(*ll), {g.rows, ll->out, r, false, true, true});
  }
}

}  // namespace frugal
