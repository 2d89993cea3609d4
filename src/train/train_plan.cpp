#include "train/train_plan.h"

#include "train/optimizer_choice.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/precision.h"
#include "io/bnb_config.h"
#include "format/gguf.h"
#include "model/lora.h"
#include "model/model.h"
#include "plan/frugal_runtime.h"
#include "plan/machine_memory.h"
#include "plan/plan_format.h"
#include "plan/plan_report.h"

namespace frugal {

namespace {


bool is_gguf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::string(magic, 4) == "GGUF";
}

std::string gib_str(double bytes) {
  return printf_str("%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
}

// "+3%" / "-12%": how far the measurement is from the plan.
double error_percent(double measured, double planned) {
  return planned > 0 ? 100.0 * (measured - planned) / planned : 0.0;
}

}  // namespace

ModelShape model_shape_from_file(const std::string& path, const std::string& tokenizer) {
  const std::string name = std::filesystem::path(path).filename().string();
  if (is_gguf(path)) return shape_from_config(name, load_gguf_config(path), path);
  return shape_from_config(name, load_model(path, tokenizer)->config, path);
}

double model_file_bytes(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return static_cast<double>(fs::file_size(path, ec));
  double total = 0;
  for (const fs::directory_entry& e : fs::directory_iterator(path, ec))
    if (e.path().extension() == ".safetensors") total += static_cast<double>(e.file_size(ec));
  return total;
}

// Bits per weight of a GGUF file's block projections as stored (blocks and their scales).
double gguf_projection_bits_per_weight(const std::string& path) {
  const GgufFile g(path);
  double bytes = 0, weights = 0;
  for (const GgufTensorInfo& t : g.tensors()) {
    if (t.ne.size() != 2 || t.name.rfind("blk.", 0) != 0) continue;
    bytes += static_cast<double>(t.nbytes);
    weights += static_cast<double>(t.elements());
  }
  return weights > 0 ? 8 * bytes / weights : 32;
}

namespace {

void check_settings_suit_stored_base(const TrainConfig& c, const BnbCheckpointKind& stored) {
  if (c.method == "full")
    fail(c.base_model, "method: full",
         "bitsandbytes saved this model's linear weights quantized and they stay so: train adapters over them "
         "with method: lora (QLoRA)");
  // Stored codes are never re-quantized, so a request for other bits would be silently ignored.
  const bool four = stored.bits == BnbBits::k4;
  if ((four && c.load_in_8bit) || (!four && c.load_in_4bit))
    fail(c.base_model, four ? "load_in_8bit" : "load_in_4bit",
         std::string("bitsandbytes saved this model's linear weights in ") + (four ? "4" : "8") +
             " bits and they are trained over as stored: drop the setting");
}

}  // namespace

void check_base_settings(const TrainConfig& c) {
  if (const std::optional<BnbCheckpointKind> stored = bnb_checkpoint_kind(c.base_model))
    check_settings_suit_stored_base(c, *stored);
}

PlanInputs plan_inputs_from_train_config(const TrainConfig& c, const ModelShape& model, Profile profile) {
  // A folder bitsandbytes saved quantized is held as stored (config.json read once here).
  const std::optional<BnbCheckpointKind> stored = bnb_checkpoint_kind(c.base_model);
  if (stored) check_settings_suit_stored_base(c, *stored);
  PlanInputs in;
  in.model = model;
  in.profile = profile;
  const bool compact_base = stored || c.load_in_4bit || c.load_in_8bit || c.keep_gguf_quantization;
  in.method = c.method == "full" ? Method::Full : compact_base ? Method::Qlora : Method::Lora;
  if (stored) {
    in.weights_dtype = stored->bits == BnbBits::k8           ? Dtype::Int8
                       : stored->type == Quant4Type::kFp4 ? Dtype::FP4
                                                           : Dtype::NF4;
    in.double_quant = stored->double_quant;
  } else if (c.load_in_4bit) {
    in.weights_dtype = c.bnb_4bit_quant_type == "fp4" ? Dtype::FP4 : Dtype::NF4;
    in.double_quant = c.bnb_4bit_use_double_quant;
  } else if (c.load_in_8bit) {
    in.weights_dtype = Dtype::Int8;
  } else if (c.keep_gguf_quantization) {
    in.base_bits_per_weight = gguf_projection_bits_per_weight(c.base_model);
  }
  in.lora_r = c.lora_r;
  in.lora_targets = parse_lora_targets(c.lora_target_modules);
  in.mixed_precision = c.bf16 && cpu_has_native_bf16();
  in.gradient_checkpointing = c.gradient_checkpointing;
  in.micro_batch = c.micro_batch_size;
  in.seq_len = c.sequence_len;
  in.grad_accum = c.gradient_accumulation_steps;
  in.optimizer = planner_optimizer(optimizer_choice(c.optim, c.momentum));
  in.gradient_dtype = Dtype::F32;
  if (profile == Profile::Frugal) in.source_file_bytes = model_file_bytes(c.base_model);
  in.validate();
  return in;
}

ContextExtension requested_context_extension(const TrainConfig& c) {
  ContextExtension e;
  if (c.rope_scaling_type == "none") return e;
  e.type = *rope_type_from_name(c.rope_scaling_type);  // one of the declared choices
  e.factor = c.rope_scaling_factor;
  e.original_context = c.rope_scaling_original_max_position_embeddings;
  return e;
}

std::string context_note(const TrainConfig& c, const LlamaConfig& model) {
  const ContextExtension e = requested_context_extension(c);
  if (e.extends())
    return "rope_scaling " + context_extension_text(e) +
           (e.type == RopeType::Dynamic
                ? ": positions past " + std::to_string(model.context_length) + " are rescaled as they come\n"
                : ": the model is trained for " + std::to_string(model.context_length) + " tokens\n");
  if (model.context_length > 0 && c.sequence_len > model.context_length)
    return printf_str(
        "sequence_len %lld is past the %lld tokens the model was trained for, and nothing stretches its "
        "positions: rope_scaling: {type: linear, factor: %g} would (position interpolation)\n",
        static_cast<long long>(c.sequence_len), static_cast<long long>(model.context_length),
        std::ceil(static_cast<double>(c.sequence_len) / static_cast<double>(model.context_length)));
  return "";
}

int training_threads(const TrainConfig& c) {
  return c.threads > 0 ? static_cast<int>(c.threads) : omp_get_max_threads();
}

BatchShape largest_batch_shape(const std::vector<Example>& train, const std::vector<Example>& validation,
                               const BatchingOptions& o) {
  BatchShape s;
  for (const std::vector<Example>* set : {&train, &validation}) {
    if (set->empty()) continue;
    int64_t rows = static_cast<int64_t>(set->size()), longest = 0;
    for (const Example& e : *set) longest = std::max(longest, static_cast<int64_t>(e.tokens.size()));
    if (o.sample_packing) {
      // Packed rows: as many every epoch (they depend only on the lengths), each sequence_len long.
      std::vector<int64_t> lengths;
      for (const Example& e : *set) lengths.push_back(static_cast<int64_t>(e.tokens.size()));
      rows = 0;
      for (const BatchPlan& b : plan_epoch(lengths, o, 0)) rows += static_cast<int64_t>(b.size());
      longest = o.sequence_len;
    }
    s.rows = std::max(s.rows, std::min(o.micro_batch_size, rows));
    s.tokens_per_row = std::max(s.tokens_per_row, longest);
  }
  return s;
}

RunPrediction predict_training_run(const TrainConfig& c, const ModelShape& model, BatchShape shape,
                                   double data_tokens, int ranks) {
  RunPrediction p;
  p.inputs = plan_inputs_from_train_config(c, model, Profile::Frugal);
  p.inputs.ranks = ranks;
  p.inputs.zero_stage = ranks > 1 ? static_cast<int>(c.zero_stage) : 0;
  if (shape.rows > 0 && shape.tokens_per_row > 0) {
    p.inputs.micro_batch = shape.rows;
    p.inputs.seq_len = shape.tokens_per_row;
    p.shape_basis = printf_str("planned for the longest micro-batch of the data, %lld x %lld tokens",
                               static_cast<long long>(shape.rows), static_cast<long long>(shape.tokens_per_row));
  } else {
    p.shape_basis = printf_str("planned for micro_batch_size x sequence_len, %lld x %lld tokens",
                               static_cast<long long>(c.micro_batch_size), static_cast<long long>(c.sequence_len));
  }
  p.inputs.data_tokens = data_tokens;
  p.memory = plan_memory(p.inputs);
  p.compute = frugal_runtime_compute(p.inputs, training_threads(c));
  return p;
}

std::string self_check_text(const RunPrediction& p, double peak_rss, double tokens_per_second) {
  const double planned_rss = p.memory.peak(), planned_tps = p.compute.tokens_per_second;
  std::string out = printf_str("peak RSS %s (planned %s, %+.0f%%)", gib_str(peak_rss).c_str(),
                               gib_str(planned_rss).c_str(), error_percent(peak_rss, planned_rss));
  if (tokens_per_second > 0 && planned_tps > 0)
    out += printf_str(", training steps %.0f tokens/s (planned %.0f, %+.0f%%)", tokens_per_second, planned_tps,
                      error_percent(tokens_per_second, planned_tps));
  return out + "; " + p.shape_basis + "\n";
}

nlohmann::ordered_json self_check_json(const RunPrediction& p, double peak_rss, double tokens_per_second) {
  const double planned_rss = p.memory.peak(), planned_tps = p.compute.tokens_per_second;
  nlohmann::ordered_json j;
  j["peak_rss_bytes"] = planned_rss;
  j["measured_peak_rss_bytes"] = peak_rss;
  j["peak_rss_error_percent"] = error_percent(peak_rss, planned_rss);
  j["tokens_per_second"] = planned_tps;
  j["measured_training_tokens_per_second"] = tokens_per_second;
  j["tokens_per_second_error_percent"] = error_percent(tokens_per_second, planned_tps);
  j["micro_batch"] = p.inputs.micro_batch;
  j["seq_len"] = p.inputs.seq_len;
  j["basis"] = p.shape_basis;
  j["throughput_basis"] = p.compute.basis;
  nlohmann::ordered_json items;
  for (const MemoryItem& i : p.memory.items) items[i.name] = i.bytes;
  j["components"] = items;
  return j;
}

std::string train_plan_text(const TrainConfig& c) {
  ModelShape model = model_shape_from_file(c.base_model, c.tokenizer);
  // Planned at the context the run trains for (as the trainer extends the loaded model's config):
  // the planner's longest sequence follows the extension.
  if (model.has_dims()) extend_context(model.config, requested_context_extension(c), c.base_model);
  PlanInputs in = plan_inputs_from_train_config(c, model, Profile::Frugal);
  PlanReport report = make_plan_report(in, ComputeInputs{}, machine_memory_bytes());
  report.compute = frugal_runtime_compute(in, training_threads(c));
  if (c.max_steps > 0) {
    report.compute_inputs.dataset_tokens = report.compute.tokens_per_step * static_cast<double>(c.max_steps);
    if (report.compute.tokens_per_second > 0)
      report.compute.seconds = report.compute_inputs.dataset_tokens / report.compute.tokens_per_second;
  }
  std::string out = "plan of this training run (frugal train --plan-only; nothing is trained)\n";
  out += printf_str(
      "planned for micro_batch_size x sequence_len = %lld x %lld tokens, the most a micro-batch can "
      "hold; a run plans again for its longest real micro-batch once the data is tokenized\n",
      static_cast<long long>(c.micro_batch_size), static_cast<long long>(c.sequence_len));
  if (model.has_dims()) out += context_note(c, model.config);
  if (c.bf16 && !in.mixed_precision) out += "bf16 asked for, but this CPU has no native bf16: f32 matmuls\n";
  if (c.method != "full" && !c.init_adapter.empty())
    out += "init_adapter set: its own rank and targets apply; planned with lora_r and lora_target_modules\n";
  out += "\n";
  out += plan_report_text(report);

  // The same run in the lecture's generic accounting, for comparison.
  const MemoryBreakdown lecture = plan_memory(plan_inputs_from_train_config(c, model, Profile::Lecture));
  out += "\nlecture profile (the course's generic accounting of the same run)\n";
  for (const MemoryItem& i : lecture.items)
    out += printf_str("  %-20s %12s  %s\n", i.name.c_str(), gb_str(i.bytes).c_str(), i.detail.c_str());
  out += printf_str("  %-20s %12s\n", "total", gb_str(lecture.total()).c_str());
  return out;
}

}  // namespace frugal
