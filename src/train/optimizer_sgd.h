// SGD as torch.optim.SGD computes it (single-tensor path, dampening 0, nesterov off), over flat fp32 arrays:
//   d = grad + weight_decay * value            (when weight_decay != 0; L2, coupled to the gradient)
//   buf = momentum * buf + d, d = buf          (when momentum != 0; torch's first step clones d, which a
//                                               zero-initialised buffer reproduces exactly)
//   value = value - learning_rate * d
#pragma once
#include <cstddef>
#include <span>

namespace frugal {

struct SgdHyper {
  double learning_rate = 1e-3;  // this step's rate, after the schedule
  double momentum = 0.0;
  double weight_decay = 0.0;
};

struct SgdSegment {
  float* values = nullptr;
  const float* grads = nullptr;
  float* momentum_buffer = nullptr;  // [count], zero at the start; unused (may be null) when momentum == 0
  size_t count = 0;
};

void sgd_update(std::span<const SgdSegment> segments, const SgdHyper& hyper);

}  // namespace frugal
