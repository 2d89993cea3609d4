#include "plan/compute_model.h"

#include "core/error.h"

namespace frugal {

FlopsPerToken flops_per_token(const PlanInputs& in) {
  FlopsPerToken f;
  const double lora = in.uses_lora() ? in.trainable_parameters() : 0;
  double matmul = 0, blocks = 0, attention = 0;
  if (in.model.has_dims()) {
    const LlamaConfig& c = in.model.config;
    matmul = static_cast<double>(matmul_parameters(c));
    blocks = static_cast<double>(c.n_layers * block_linear_parameters(c));
    attention =
        2.0 * 2.0 * static_cast<double>(in.seq_len) * static_cast<double>(c.q_dim()) * static_cast<double>(c.n_layers);
  } else {
    matmul = blocks = in.model.parameters;  // every parameter in a matmul: the 2N rule
  }
  f.forward = 2.0 * matmul + attention + 2.0 * lora;
  if (in.method == Method::Inference) return f;
  const double input_grads = 2.0 * matmul + 2.0 * lora;
  const double weight_grads = in.method == Method::Full ? 2.0 * matmul : 2.0 * lora;
  f.backward = input_grads + weight_grads + 2.0 * attention;
  if (in.gradient_checkpointing) f.recompute = 2.0 * blocks + attention + 2.0 * lora;
  return f;
}

double model_training_flops(const PlanInputs& inputs, double tokens, int64_t row_length) {
  PlanInputs in = inputs;
  in.seq_len = row_length;
  const FlopsPerToken f = flops_per_token(in);
  return (f.forward + f.backward) * tokens;
}

ComputeEstimate estimate_compute(const PlanInputs& in, const ComputeInputs& cin) {
  if (cin.tokens_per_second < 0 || cin.peak_flops < 0 || cin.dataset_tokens < 0)
    fail("--throughput, --peak-flops and --tokens must not be negative");
  if (cin.peak_flops > 0 && !(cin.mfu > 0 && cin.mfu <= 1)) fail("--mfu", std::to_string(cin.mfu), "must be in (0, 1]");
  ComputeEstimate e;
  e.per_token = flops_per_token(in);
  const double ranks = static_cast<double>(in.ranks);
  e.tokens_per_step = in.method == Method::Inference
                          ? static_cast<double>(in.micro_batch)
                          : static_cast<double>(in.micro_batch * in.seq_len * in.grad_accum) * ranks;
  e.flops_per_step = e.per_token.total() * e.tokens_per_step;
  e.chinchilla_tokens = kChinchillaTokensPerParameter * in.model.parameters;
  if (cin.tokens_per_second > 0) {
    e.tokens_per_second = cin.tokens_per_second * ranks;
    e.basis = "measured throughput";
  } else if (cin.peak_flops > 0) {
    e.tokens_per_second = cin.peak_flops * cin.mfu / e.per_token.total() * ranks;
    e.basis = "peak x MFU";
  } else {
    e.basis = "no throughput given";
  }
  if (e.tokens_per_second > 0 && cin.dataset_tokens > 0) e.seconds = cin.dataset_tokens / e.tokens_per_second;
  return e;
}

}  // namespace frugal
