#include "plan/plan_report.h"

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "model/lora.h"
#include "plan/plan_format.h"

namespace frugal {

namespace {


std::string run_summary(const PlanInputs& in) {
  std::string s = method_name(in.method);
  if (in.uses_lora())
    s += in.lora_fraction > 0
             ? printf_str(" (%.3g%% of parameters)", 100 * in.lora_fraction)
             : " r=" + std::to_string(in.lora_r) + " on " +
                   (in.lora_targets.size() == all_linear_roles().size() ? std::string("all-linear")
                                                                        : lora_targets_string(in.lora_targets));
  s += ", weights " + dtype_name(in.resolved_weights_dtype());
  if (is_quantized(in.resolved_weights_dtype()) && in.double_quant) s += " (double quantization)";
  s += in.mixed_precision ? ", mixed precision" : ", fp32 compute";
  if (in.method != Method::Inference) {
    s += ", " + optimizer_name(in.optimizer) + ", gradients " + dtype_name(in.gradient_dtype);
    if (in.gradient_checkpointing) s += ", gradient checkpointing";
    if (in.memory_efficient_attention) s += ", memory-efficient attention";
  }
  s += printf_str(", micro-batch %lld x %lld tokens", static_cast<long long>(in.micro_batch),
                  static_cast<long long>(in.seq_len));
  if (in.grad_accum > 1) s += printf_str(", accumulation %lld", static_cast<long long>(in.grad_accum));
  if (in.ranks > 1) s += printf_str(", %lld ranks, ZeRO-%d", static_cast<long long>(in.ranks), in.zero_stage);
  return s;
}

std::string model_summary(const ModelShape& m) {
  std::string s = m.name + ": " + count_str(m.parameters) + " parameters";
  if (m.has_dims()) {
    const LlamaConfig& c = m.config;
    s += printf_str(" (L %lld, hidden %lld, heads %lld/%lld kv, ffn %lld, vocab %lld)",
                    static_cast<long long>(c.n_layers), static_cast<long long>(c.dim),
                    static_cast<long long>(c.n_heads), static_cast<long long>(c.n_kv_heads),
                    static_cast<long long>(c.ffn_dim), static_cast<long long>(c.vocab_size));
  }
  return s;
}

nlohmann::ordered_json memory_json(const MemoryBreakdown& m) {
  nlohmann::ordered_json j;
  j["profile"] = m.profile;
  for (const MemoryItem& i : m.items)
    j["components"].push_back({{"name", i.name}, {"bytes", i.bytes}, {"detail", i.detail}});
  j["total_bytes"] = m.total();
  j["load_phase_bytes"] = m.load_phase_bytes;
  j["peak_bytes"] = m.peak();
  j["notes"] = m.notes;
  return j;
}

}  // namespace

std::string duration_str(double seconds) {
  if (seconds < 60) return printf_str("%.0f s", seconds);
  if (seconds < 3600) return printf_str("%.0f min", seconds / 60);
  if (seconds < 86400 * 2)
    return printf_str("%.0f h %.0f min", std::floor(seconds / 3600), std::fmod(seconds, 3600) / 60);
  return printf_str("%.1f days", seconds / 86400);
}

PlanReport make_plan_report(const PlanInputs& inputs, const ComputeInputs& compute, double available_bytes) {
  PlanReport r;
  r.inputs = inputs;
  r.compute_inputs = compute;
  r.available_bytes = available_bytes;
  r.memory = plan_memory(inputs);
  r.compute = estimate_compute(inputs, compute);
  r.decision = decide(inputs, available_bytes);
  r.largest_micro_batch = largest_micro_batch(inputs, available_bytes);
  r.largest_seq_len = largest_seq_len(inputs, available_bytes);
  r.largest_preset = largest_preset_that_fits(inputs, available_bytes);
  return r;
}

std::string plan_report_text(const PlanReport& r) {
  const PlanInputs& in = r.inputs;
  std::string out;
  out += "model     " + model_summary(in.model) + "\n";
  out += "run       " + run_summary(in) + "\n";
  out += "profile   " + r.memory.profile +
         (r.memory.profile == "frugal" ? " (buffers frugal's training pass allocates)"
                                       : " (the lecture's generic accounting)") +
         "\n\n";
  const double total = r.memory.total();
  out += printf_str("%-22s %12s %7s  %s\n", "component", "bytes", "share", "how");
  for (const MemoryItem& i : r.memory.items)
    out += printf_str("%-22s %12s %6.1f%%  %s\n", i.name.c_str(), gb_str(i.bytes).c_str(),
                      total > 0 ? 100 * i.bytes / total : 0.0, i.detail.c_str());
  out += printf_str("%-22s %12s\n", "total", gb_str(total).c_str());
  if (r.memory.load_phase_bytes > 0)
    out += printf_str("%-22s %12s  (model file mapped while loading)\n", "load phase",
                      gb_str(r.memory.load_phase_bytes).c_str());
  const double peak = r.memory.peak();
  out += printf_str("%-22s %12s  %s\n", "available", gb_str(r.available_bytes).c_str(),
                    peak <= r.available_bytes ? "fits" : "does NOT fit");
  for (const std::string& n : r.memory.notes) out += "  note: " + n + "\n";

  const ComputeEstimate& c = r.compute;
  out += "\ncompute   " + printf_str("forward %.3g FLOP/token", c.per_token.forward);
  if (in.method != Method::Inference)
    out += printf_str(
        ", training %.3g FLOP/token (backward %.3g, recompute %.3g); %.3g FLOP per optimizer step of %.0f tokens",
        c.per_token.total(), c.per_token.backward, c.per_token.recompute, c.flops_per_step, c.tokens_per_step);
  out += "\n          Chinchilla reference: " + count_str(c.chinchilla_tokens) + " tokens (20 per parameter)\n";
  if (c.tokens_per_second > 0) {
    out += printf_str("          throughput %.4g tokens/s (%s)", c.tokens_per_second, c.basis.c_str());
    if (c.seconds > 0)
      out += ": " + count_str(r.compute_inputs.dataset_tokens) + " tokens in " + duration_str(c.seconds);
    out += "\n";
  } else {
    out += "          time: give --throughput, or --peak-flops and --mfu\n";
  }

  const Decision& d = r.decision;
  out += "\ndecision tree (" + gb_str(d.available_bytes) + " available" + (in.ranks > 1 ? " per rank" : "") +
         "; starts from full fine-tuning)\n";
  int k = 0;
  for (const DecisionStep& s : d.steps)
    out += printf_str("  %d. [%s] %s: %s -> %s%s, tokens/s x%.2f (%s)\n", ++k, s.stage.c_str(), s.action.c_str(),
                      gb_str(s.memory_before).c_str(), gb_str(s.memory_after).c_str(), s.fits_after ? " fits" : "",
                      s.throughput_factor, s.throughput_note.c_str());
  if (d.steps.empty()) out += "  (nothing to change)\n";
  out += "  => " + d.verdict + "\n";
  auto or_none = [](int64_t v) { return v > 0 ? std::to_string(v) : std::string("none"); };
  out += "\nlargest that fits with the run's settings: micro-batch " + or_none(r.largest_micro_batch) +
         ", sequence length " + or_none(r.largest_seq_len) + ", preset " +
         (r.largest_preset ? r.largest_preset->name : std::string("none")) + "\n";
  return out;
}

std::string plan_report_json(const PlanReport& r) {
  const PlanInputs& in = r.inputs;
  nlohmann::ordered_json j;
  j["model"] = {{"name", in.model.name}, {"source", in.model.source}, {"parameters", in.model.parameters}};
  if (in.model.has_dims()) {
    const LlamaConfig& c = in.model.config;
    j["model"]["layers"] = c.n_layers;
    j["model"]["hidden_size"] = c.dim;
    j["model"]["heads"] = c.n_heads;
    j["model"]["kv_heads"] = c.n_kv_heads;
    j["model"]["head_dim"] = c.head_dim;
    j["model"]["ffn_size"] = c.ffn_dim;
    j["model"]["vocab_size"] = c.vocab_size;
  }
  j["run"] = {{"method", method_name(in.method)},
              {"lora_r", in.lora_r},
              {"lora_targets", lora_targets_string(in.lora_targets)},
              {"lora_fraction", in.lora_fraction},
              {"trainable_parameters", in.trainable_parameters()},
              {"weights_dtype", dtype_name(in.resolved_weights_dtype())},
              {"double_quant", in.double_quant},
              {"mixed_precision", in.mixed_precision},
              {"grad_dtype", dtype_name(in.gradient_dtype)},
              {"optimizer", optimizer_name(in.optimizer)},
              {"gradient_checkpointing", in.gradient_checkpointing},
              {"memory_efficient_attention", in.memory_efficient_attention},
              {"micro_batch", in.micro_batch},
              {"seq_len", in.seq_len},
              {"grad_accum", in.grad_accum},
              {"ranks", in.ranks},
              {"zero_stage", in.zero_stage}};
  j["memory"] = memory_json(r.memory);
  j["available_bytes"] = r.available_bytes;
  j["fits"] = r.memory.peak() <= r.available_bytes;
  const ComputeEstimate& c = r.compute;
  j["compute"] = {{"forward_flops_per_token", c.per_token.forward},
                  {"backward_flops_per_token", c.per_token.backward},
                  {"recompute_flops_per_token", c.per_token.recompute},
                  {"flops_per_token", c.per_token.total()},
                  {"tokens_per_step", c.tokens_per_step},
                  {"flops_per_step", c.flops_per_step},
                  {"chinchilla_tokens", c.chinchilla_tokens},
                  {"tokens_per_second", c.tokens_per_second},
                  {"basis", c.basis},
                  {"dataset_tokens", r.compute_inputs.dataset_tokens},
                  {"seconds", c.seconds}};
  nlohmann::ordered_json steps = nlohmann::ordered_json::array();
  for (const DecisionStep& s : r.decision.steps)
    steps.push_back({{"stage", s.stage},
                     {"action", s.action},
                     {"memory_before_bytes", s.memory_before},
                     {"memory_after_bytes", s.memory_after},
                     {"fits_after", s.fits_after},
                     {"throughput_factor", s.throughput_factor},
                     {"throughput_note", s.throughput_note}});
  j["decision"] = {{"fits", r.decision.fits},
                   {"memory_bytes", r.decision.memory},
                   {"verdict", r.decision.verdict},
                   {"steps", steps}};
  j["largest"] = {{"micro_batch", r.largest_micro_batch},
                  {"seq_len", r.largest_seq_len},
                  {"preset", r.largest_preset ? r.largest_preset->name : ""}};
  return j.dump(2);
}

}  // namespace frugal
