#include "plan/decision_tree.h"

#include <functional>

#include "plan/compute_model.h"
#include "plan/plan_format.h"

namespace frugal {

namespace {

double peak(const PlanInputs& in) {
  return plan_memory(in).peak();
}

// The smallest footprint a configuration can reach without changing method or precision.
PlanInputs with_every_activation_saving(PlanInputs in) {
  in.gradient_checkpointing = true;
  in.memory_efficient_attention = true;
  in.micro_batch = 1;
  return in;
}

double flops_ratio(const PlanInputs& before, const PlanInputs& after) {
  return flops_per_token(before).total() / flops_per_token(after).total();
}

// Largest v in [1, cap] with fits(v), for a monotone predicate; 0 when fits(1) is false.
int64_t largest_fitting(int64_t cap, const std::function<bool(int64_t)>& fits) {
  if (cap < 1 || !fits(1)) return 0;
  int64_t lo = 1, hi = 2;
  while (hi <= cap && fits(hi)) lo = hi, hi *= 2;
  if (hi > cap) {
    if (fits(cap)) return cap;
    hi = cap;
  }
  while (hi - lo > 1) {  // fits(lo), !fits(hi)
    const int64_t mid = lo + (hi - lo) / 2;
    (fits(mid) ? lo : hi) = mid;
  }
  return lo;
}

struct Tree {
  double available;
  PlanInputs cur;
  std::vector<DecisionStep> steps;

  // Applies `change` to the current configuration and records it, unless it leaves the memory as
  // it was (a setting the profile does not model).
  void step(const std::string& stage, const std::string& action, const std::function<void(PlanInputs&)>& change,
            double extra_factor, const std::string& note) {
    PlanInputs next = cur;
    change(next);
    const double before = peak(cur), after = peak(next);
    const bool same = after == before;
    if (same && stage != "batch") return;
    steps.push_back({stage, action, before, after, flops_ratio(cur, next) * extra_factor, note, after <= available});
    cur = next;
  }
  bool fits_at_best() const { return peak(with_every_activation_saving(cur)) <= available; }
  bool fits() const { return peak(cur) <= available; }
};

std::string lora_action(const PlanInputs& in, const std::string& what) {
  const std::string rank = in.lora_fraction > 0 ? "" : " r=" + std::to_string(in.lora_r);
  return what + rank + " (" + count_str(in.trainable_parameters()) + " trainable parameters)";
}

Decision decide_inference(const PlanInputs& wanted, double available) {
  Tree t{available, wanted, {}};
  const std::string stage = "inference weights";
  if (!t.fits())
    t.step(
        stage, "8-bit weights", [](PlanInputs& p) { p.weights_dtype = Dtype::Int8; }, 1.0,
        "smaller weights: faster where decoding is memory-bound");
  if (!t.fits())
    t.step(
        stage, "4-bit NF4 weights", [](PlanInputs& p) { p.weights_dtype = Dtype::NF4; }, 1.0,
        "smaller weights: faster where decoding is memory-bound");
  Decision d{t.fits(), available, peak(t.cur), t.cur, t.steps, ""};
  d.verdict = d.fits ? "fits for inference with " + dtype_name(t.cur.resolved_weights_dtype()) + " weights"
                     : "does not fit even with 4-bit weights: needs " + gb_str(d.memory);
  return d;
}

}  // namespace

Decision decide(const PlanInputs& wanted, double available) {
  wanted.validate();
  if (wanted.method == Method::Inference) return decide_inference(wanted, available);
  PlanInputs start = wanted;
  start.method = Method::Full;
  start.weights_dtype.reset();
  start.gradient_checkpointing = false;
  start.micro_batch = 1;
  start.grad_accum = 1;
  start.zero_stage = 0;
  Tree t{available, start, {}};

  // 1. Weights, gradients, optimizer state.
  const std::string s1 = "weights/gradients/optimizer";
  if (!t.fits_at_best() && !t.cur.mixed_precision)
    t.step(
        s1, "mixed precision (bf16 weights and activations, fp32 master weights)",
        [](PlanInputs& p) { p.mixed_precision = true; }, kMixedPrecisionSpeedup,
        "faster where the CPU multiplies bf16 natively (AMX, AVX512-BF16)");
  if (t.cur.ranks > 1) {
    for (int stage = 1; stage <= 3 && !t.fits_at_best(); ++stage)
      t.step(
          s1, "ZeRO stage " + std::to_string(stage) + " over " + std::to_string(t.cur.ranks) + " ranks",
          [stage](PlanInputs& p) { p.zero_stage = stage; }, stage == 3 ? kZero3Factor : 1.0,
          stage == 3 ? "parameters gathered for every layer: 1.5x the communication"
                     : "same communication volume as plain data parallelism");
  }
  if (!t.fits_at_best()) {
    PlanInputs lora = t.cur;
    lora.method = Method::Lora;
    t.step(
        s1, lora_action(lora, "LoRA on a frozen " + dtype_name(lora.resolved_weights_dtype()) + " base"),
        [](PlanInputs& p) { p.method = Method::Lora; }, 1.0, "no weight gradients for the frozen base");
  }
  if (!t.fits_at_best()) {
    PlanInputs q = t.cur;
    q.method = Method::Qlora;
    t.step(
        s1,
        lora_action(q, "QLoRA on a frozen " + dtype_name(q.resolved_weights_dtype()) +
                           (q.double_quant ? " base with double quantization" : " base")),
        [](PlanInputs& p) { p.method = Method::Qlora; }, kQloraDequantizationFactor,
        "every matmul dequantizes its 4-bit weights");
  }
  if (!t.fits_at_best()) {
    const PlanInputs best = with_every_activation_saving(t.cur);
    Decision d{false, available, peak(best), best, t.steps, ""};
    d.verdict = "does not fit even with everything (" + method_name(best.method) +
                ", gradient checkpointing, memory-efficient attention, micro-batch 1): needs " + gb_str(d.memory) +
                ", " + gb_str(available) + " available";
    return d;
  }

  // 2. Activations at micro-batch 1.
  const std::string s2 = "activations";
  if (!t.fits() && !t.cur.memory_efficient_attention)
    t.step(
        s2, "memory-efficient attention (no s x s score matrices kept)",
        [](PlanInputs& p) { p.memory_efficient_attention = true; }, 1.0, "same FLOPs, fewer memory passes");
  if (!t.fits())
    t.step(
        s2, "gradient checkpointing (keep block inputs, recompute the rest in backward)",
        [](PlanInputs& p) { p.gradient_checkpointing = true; }, 1.0, "one more forward of the blocks");

  // 3. Batch: the largest micro-batch that divides the wanted batch, the rest by accumulation.
  const int64_t target = wanted.micro_batch * wanted.grad_accum;
  if (target > 1) {
    const int64_t most = largest_micro_batch(t.cur, available, target);
    int64_t m = most;
    while (m > 1 && target % m != 0) --m;
    if (m > 1)
      t.step(
          "batch", "micro-batch " + std::to_string(m), [m](PlanInputs& p) { p.micro_batch = m; }, 1.0,
          "larger matmuls use the hardware better");
    if (target / m > 1)
      t.step(
          "batch", "gradient accumulation over " + std::to_string(target / m) + " micro-batches",
          [&](PlanInputs& p) { p.grad_accum = target / m; }, 1.0,
          "same memory; one optimizer step per " + std::to_string(target) + " sequences");
  }
  Decision d{true, available, peak(t.cur), t.cur, t.steps, ""};
  d.verdict = "fits: " + method_name(t.cur.method) + (t.cur.mixed_precision ? ", mixed precision" : ", fp32") +
              (t.cur.gradient_checkpointing ? ", gradient checkpointing" : "") + ", micro-batch " +
              std::to_string(t.cur.micro_batch) + " x " + std::to_string(t.cur.grad_accum) +
              " accumulation: " + gb_str(d.memory) + " of " + gb_str(available);
  return d;
}

int64_t largest_micro_batch(const PlanInputs& inputs, double available, int64_t cap) {
  PlanInputs p = inputs;
  return largest_fitting(cap, [&](int64_t b) {
    p.micro_batch = b;
    return peak(p) <= available;
  });
}

int64_t largest_seq_len(const PlanInputs& inputs, double available, int64_t cap) {
  if (cap <= 0) cap = inputs.model.config.context_length > 0 ? inputs.model.config.context_length : int64_t{1} << 20;
  PlanInputs p = inputs;
  return largest_fitting(cap, [&](int64_t s) {
    p.seq_len = s;
    return peak(p) <= available;
  });
}

const ModelShape* largest_preset_that_fits(const PlanInputs& inputs, double available) {
  const ModelShape* best = nullptr;
  PlanInputs p = inputs;
  for (const ModelShape& s : model_presets()) {
    p.model = s;
    if (peak(p) <= available) best = &s;
  }
  return best;
}

}  // namespace frugal
