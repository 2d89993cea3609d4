#include <cstdio>

#include "commands.h"
#include "core/error.h"
#include "model/lora.h"
#include "model_options.h"
#include "plan/machine_memory.h"
#include "plan/model_shapes.h"
#include "plan/plan_report.h"
#include "train/train_plan.h"

namespace frugal::cli {

namespace {

std::vector<OptionSpec> plan_option_specs() {
  // -m and --tokenizer as every command declares them; the plan needs no other model option.
  std::vector<OptionSpec> specs;
  for (OptionSpec s : model_option_specs()) {
    if (s.name != "model" && s.name != "tokenizer") continue;
    if (s.name == "model") {
      s.required = false;
      s.help += " (only its config is read; or use --preset)";
    }
    specs.push_back(s);
  }
  std::vector<OptionSpec> more = {
      {"preset", "", OptionKind::String, "", "a published model shape instead of -m: " + preset_names()},
      {"method", "", OptionKind::String, "lora", "full | lora | qlora | inference"},
      {"lora-r", "", OptionKind::Int, "8", "LoRA rank"},
      {"lora-targets", "", OptionKind::String, "all-linear",
       "projections with adapters: q,k,v,o,gate,up,down (or q_proj, ...), or all-linear"},
      {"lora-fraction", "", OptionKind::Float, "0",
       "trainable LoRA parameters as a fraction of the model (0.004 = the slides' 0.4%) instead of counting them "
       "from --lora-r and --lora-targets"},
      {"weights-dtype", "", OptionKind::String, "auto",
       "storage of the weights (the frozen base for lora/qlora): auto | f32 | bf16 | f16 | int8 | int4 | nf4 | fp4; "
       "auto = bf16 with --mixed-precision else f32, nf4 for qlora, bf16 for inference; int4 = 4 bits without "
       "block scales (the slides' idealisation)"},
      {"double-quant", "", OptionKind::Flag, "true",
       "nf4/fp4 double quantization of the block scales (on; --double-quant=false for plain 64-blocks with fp32 "
       "absmax)"},
      {"grad-dtype", "", OptionKind::String, "f32", "gradients: f32 | bf16 | f16"},
      {"optimizer", "", OptionKind::String, "adamw",
       "adamw (8 B/param) | adamw8bit (~2 B) | sgd (none) | sgd-momentum (4 B); fp32 master weights (4 B) come on top "
       "under --mixed-precision; train's optim names (adamw_torch, adamw_8bit, paged_adamw_*) are accepted too"},
      {"mixed-precision", "", OptionKind::Flag, "false", "bf16 weights and activations, fp32 master weights"},
      {"gradient-checkpointing", "", OptionKind::Flag, "false",
       "keep only block inputs, recompute the rest in backward"},
      {"memory-efficient-attention", "", OptionKind::Flag, "false",
       "attention that never stores the s x s scores (FlashAttention-style; lecture profile)"},
      {"micro-batch", "", OptionKind::Int, "1", "sequences per micro-batch, per rank"},
      {"seq-len", "", OptionKind::Int, "512", "tokens per sequence (inference: positions held in the KV cache)"},
      {"grad-accum", "", OptionKind::Int, "1", "micro-batches per optimizer step"},
      {"ranks", "", OptionKind::Int, "1", "data-parallel ranks (memory is reported per rank)"},
      {"zero-stage", "", OptionKind::Int, "0",
       "ZeRO sharding across the ranks: 1 optimizer state, 2 + gradients, 3 + parameters"},
      {"memory", "", OptionKind::Float, "",
       "memory available per rank in GB (1e9 bytes) [default: this machine's MemTotal]"},
      {"throughput", "", OptionKind::Float, "0", "measured tokens/s of one rank, for the time estimate"},
      {"peak-flops", "", OptionKind::Float, "0",
       "one rank's peak FLOP/s (e.g. 6.8e12), used with --mfu without --throughput"},
      {"mfu", "", OptionKind::Float, "0.4", "fraction of --peak-flops reached"},
      {"tokens", "", OptionKind::Float, "0", "dataset size in tokens, for the time estimate"},
      {"profile", "", OptionKind::String, "lecture",
       "lecture: the course's generic accounting; frugal: the buffers frugal's own training allocates (compare with "
       "its peak RSS)"},
      {"json", "", OptionKind::Flag, "false", "print as JSON"},
  };
  specs.insert(specs.end(), more.begin(), more.end());
  return specs;
}

PlanInputs inputs_from(const Options& o) {
  if (o.was_set("preset") == o.was_set("model")) fail("plan: give exactly one of --preset NAME or -m MODEL");
  PlanInputs in;
  if (o.was_set("preset")) {
    in.model = find_preset(o.get("preset"));
  } else {
    in.model = model_shape_from_file(o.get("model"), o.get("tokenizer"));
    in.source_file_bytes = model_file_bytes(o.get("model"));
  }
  in.method = parse_method(o.get("method"));
  in.lora_r = o.get_int("lora-r");
  in.lora_targets = parse_lora_targets(o.get("lora-targets"));
  in.lora_fraction = o.get_float("lora-fraction");
  if (o.get("weights-dtype") != "auto") in.weights_dtype = parse_dtype(o.get("weights-dtype"));
  in.double_quant = o.flag("double-quant");
  in.gradient_dtype = parse_dtype(o.get("grad-dtype"), "grad-dtype");
  in.optimizer = parse_optimizer(o.get("optimizer"));
  in.mixed_precision = o.flag("mixed-precision");
  in.gradient_checkpointing = o.flag("gradient-checkpointing");
  in.memory_efficient_attention = o.flag("memory-efficient-attention");
  in.micro_batch = o.get_int("micro-batch");
  in.seq_len = o.get_int("seq-len");
  in.grad_accum = o.get_int("grad-accum");
  in.ranks = o.get_int("ranks");
  in.zero_stage = static_cast<int>(o.get_int("zero-stage"));
  in.profile = parse_profile(o.get("profile"));
  in.validate();
  return in;
}

}  // namespace

int cmd_plan(const Args& args) {
  Options o(
      "plan",
      "Memory and compute estimate of a fine-tuning (or inference) run, and the decision tree that makes it fit:\n"
      "full -> mixed precision -> (ZeRO) -> LoRA -> QLoRA for weights, gradients and optimizer state, then\n"
      "memory-efficient attention and gradient checkpointing for activations, then micro-batch and accumulation.",
      plan_option_specs());
  if (!parse_or_help(o, args)) return 0;
  const PlanInputs in = inputs_from(o);
  double available = o.was_set("memory") ? o.get_float("memory") * 1e9 : machine_memory_bytes();
  if (!(available > 0)) fail("plan: --memory", o.get("memory"), "give the memory available in GB");
  ComputeInputs compute;
  compute.tokens_per_second = o.get_float("throughput");
  compute.peak_flops = o.get_float("peak-flops");
  compute.mfu = o.get_float("mfu");
  compute.dataset_tokens = o.get_float("tokens");
  const PlanReport report = make_plan_report(in, compute, available);
  const std::string text = o.flag("json") ? plan_report_json(report) + "\n" : plan_report_text(report);
  std::fputs(text.c_str(), stdout);
  return 0;
}

}  // namespace frugal::cli
