// AdamW as torch.optim.AdamW computes it (single-tensor path, fp32 state), over flat fp32 arrays,
// plus the global gradient norm and clipping of torch.nn.utils.clip_grad_norm_.
//
// The trainable values, their gradients and both moments live in flat arrays (one contiguous arena
// for LoRA), so an update is a handful of passes over a few segments rather than per-tensor calls.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

namespace frugal {

struct AdamWHyper {
  double learning_rate = 1e-3;  // this step's rate, after the schedule
  double beta1 = 0.9, beta2 = 0.999;
  double epsilon = 1e-8;
  double weight_decay = 0.0;  // decoupled: values *= 1 - learning_rate * weight_decay
};

// One run of trainable values with their gradients and AdamW moments (m = exp_avg, v = exp_avg_sq),
// all `count` floats long. m and v start at zero.
struct ParamSegment {
  float* values = nullptr;
  const float* grads = nullptr;
  float* m = nullptr;
  float* v = nullptr;
  size_t count = 0;
};

// One AdamW update of every segment. `step` is the 1-based number of this update (torch's
// state["step"] after its increment), which sets the bias corrections; the caller keeps the count
// (and saves it in checkpoints). Uses AVX-512 or AVX2 when the library is built for them, and the
// available threads for large arrays; the result equals adamw_update_ref's bit for bit.
void adamw_update(std::span<const ParamSegment> segments, const AdamWHyper& hyper, int64_t step);
void adamw_update(const ParamSegment& segment, const AdamWHyper& hyper, int64_t step);

// The same update, one element at a time in the order torch's kernels use: the reference the fast
// path is tested against.
void adamw_update_ref(std::span<const ParamSegment> segments, const AdamWHyper& hyper, int64_t step);

// "avx512", "avx2" or "scalar": what adamw_update was compiled for (for logs and tests).
const char* adamw_isa();

// L2 norm of all gradients together, accumulated in double. Deterministic for given inputs
// (independent of the thread count). Non-finite gradients give a non-finite norm.
double global_grad_norm(std::span<const std::span<const float>> grads);
double global_grad_norm(std::span<const float> grads);

// torch.nn.utils.clip_grad_norm_: when max_norm / (norm + 1e-6) < 1, every gradient is multiplied by
// that (fp32) factor. Returns the norm before clipping, which is what trainers log. max_norm <= 0
// only measures. A non-finite norm leaves the gradients alone: the caller should skip the step.
double clip_grad_norm(std::span<const std::span<float>> grads, double max_norm);
// The two halves of clip_grad_norm, for a norm gathered from several ranks' shards: the fp32 factor
// torch multiplies by (1 when no clipping applies or the norm is not finite), and the multiplication.
float clip_coefficient(double norm, double max_norm);
void scale_grads(std::span<const std::span<float>> grads, float factor);
double clip_grad_norm(std::span<float> grads, double max_norm);

}  // namespace frugal
