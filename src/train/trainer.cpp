#include "train/trainer.h"

#include <omp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/counter_rng.h"
#include "core/error.h"
#include "core/peak_rss.h"
#include "core/precision.h"
#include "data/batching.h"
#include "data/pipeline.h"
#include "io/export_model.h"
#include "io/gguf_lora.h"
#include "io/peft_adapter.h"
#include "model/model.h"
#include "model/training_pass.h"
#include "plan/train_plan.h"
#include "train/checkpoint.h"
#include "train/loss_plot.h"
#include "train/metrics.h"
#include "train/optimizer.h"
#include "train/schedule.h"

namespace frugal {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

DataOptions data_options(const TrainConfig& c) {
  DataOptions d;
  d.dataset = c.dataset;
  d.val_dataset = c.val_dataset;
  d.val_set_size = c.val_set_size;
  d.records.format = parse_dataset_format(c.dataset_format);
  d.records.text_key = c.text_key;
  d.records.instruction_key = c.instruction_key;
  d.records.input_key = c.input_key;
  d.records.output_key = c.output_key;
  d.records.messages_key = c.messages_key;
  d.tokenize.sequence_len = c.sequence_len;
  d.tokenize.train_on_inputs = c.train_on_inputs;
  d.seed = static_cast<uint64_t>(c.seed);
  return d;
}

// The trainable numbers as the optimizer and checkpoints see them: LoRA's one arena, or every
// weight of the model (full fine-tuning) with moments in one arena at the same offsets.
struct Trainables {
  std::vector<ParamSegment> segments;
  std::vector<std::span<float>> grads;
  std::vector<float> m, v;
  size_t count = 0;
  std::string layout;

  void gather_values(std::vector<float>& out) const {
    out.resize(count);
    size_t at = 0;
    for (const ParamSegment& s : segments) {
      std::copy(s.values, s.values + s.count, out.begin() + static_cast<std::ptrdiff_t>(at));
      at += s.count;
    }
  }
  void scatter_values(const std::vector<float>& in) {
    size_t at = 0;
    for (ParamSegment& s : segments) {
      std::copy(in.begin() + static_cast<std::ptrdiff_t>(at), in.begin() + static_cast<std::ptrdiff_t>(at + s.count),
                s.values);
      at += s.count;
    }
  }
};

Trainables make_trainables(Model& model, LoraAdapter* lora, TrainingPass& pass) {
  Trainables t;
  if (lora) {
    t.count = lora->values.size();
    t.m.assign(t.count, 0.0f);
    t.v.assign(t.count, 0.0f);
    t.segments.push_back({lora->values.data(), pass.lora_grads().data(), t.m.data(), t.v.data(), t.count});
    t.grads.push_back(std::span<float>(pass.lora_grads()));
    t.layout = "lora r=" + std::to_string(lora->config.r) + " targets=" + lora_targets_string(lora->config.targets) +
               " layers=" + std::to_string(model.config.n_layers) + " values=" + std::to_string(t.count);
    return t;
  }
  std::vector<WeightSlot> values = weight_slots(model.config, model.weights);
  std::vector<WeightSlot> grads = weight_slots(model.config, pass.full_grads());
  for (const WeightSlot& s : values) t.count += static_cast<size_t>(s.rows * s.cols);
  t.m.assign(t.count, 0.0f);
  t.v.assign(t.count, 0.0f);
  size_t at = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const size_t n = static_cast<size_t>(values[i].rows * values[i].cols);
    t.segments.push_back({values[i].data, grads[i].data, t.m.data() + at, t.v.data() + at, n});
    t.grads.push_back(std::span<float>(grads[i].data, n));
    at += n;
  }
  t.layout = "full layers=" + std::to_string(model.config.n_layers) + " values=" + std::to_string(t.count);
  return t;
}

double evaluate(TrainingPass& pass, const std::vector<Example>& examples, const BatchingOptions& options) {
  if (examples.empty()) return -1;
  BatchingOptions o = options;
  o.shuffle = false;
  BatchStream stream(examples, o);
  double loss = 0;
  int64_t count = 0;
  for (int64_t i = 0; i < stream.batches_per_epoch(); ++i) {
    CrossEntropyResult r = pass.evaluate(stream.next());
    loss += r.loss_sum;
    count += r.count;
  }
  return count ? loss / count : -1;
}

std::string human_bytes(double b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  return buf;
}

}  // namespace

TrainReport run_training(const TrainConfig& c) {
  const auto wall_start = Clock::now();
  if (c.threads > 0) omp_set_num_threads(static_cast<int>(c.threads));
  const bool full = c.method == "full";
  const Precision precision = c.bf16 && cpu_has_native_bf16() ? Precision::BF16 : Precision::F32;
  std::filesystem::create_directories(c.output_dir);
  write_file_atomically(c.output_dir + "/config.yaml", train_config_to_yaml(c));

  std::unique_ptr<Model> model = load_model(c.base_model, c.tokenizer);
  if (c.load_in_4bit) {
    if (full) fail("load_in_4bit", "", "4-bit weights are frozen: use method: lora (QLoRA)");
    quantize_linear_weights(model->weights, c.bnb_4bit_quant_type == "fp4" ? Quant4Type::kFp4 : Quant4Type::kNf4,
                            c.bnb_4bit_use_double_quant);
  }
  PreparedData data = prepare_data(data_options(c), *model->tokenizer);
  std::fprintf(stderr, "%s\n", data.summary.c_str());
  const std::vector<Example>& train = data.train;
  const std::vector<Example>& validation = data.validation;

  std::unique_ptr<LoraAdapter> lora;
  if (!full) {
    if (!c.init_adapter.empty()) {
      const bool gguf = c.init_adapter.size() > 5 && c.init_adapter.substr(c.init_adapter.size() - 5) == ".gguf";
      lora = std::make_unique<LoraAdapter>(gguf ? read_gguf_lora(c.init_adapter, model->config)
                                                : read_peft_adapter(c.init_adapter, model->config));
      lora->config.dropout = static_cast<float>(c.lora_dropout);
    } else {
      LoraConfig lc;
      lc.r = c.lora_r;
      lc.alpha = static_cast<float>(c.lora_alpha);
      lc.dropout = static_cast<float>(c.lora_dropout);
      lc.targets = parse_lora_targets(c.lora_target_modules);
      lc.use_rslora = c.use_rslora;
      lc.seed = static_cast<uint64_t>(c.seed);
      lora = std::make_unique<LoraAdapter>(LoraAdapter::create(model->config, lc));
    }
  }
  TrainingPass pass(*model, lora.get(), {precision, c.gradient_checkpointing, full});
  Trainables trainables = make_trainables(*model, lora.get(), pass);

  BatchingOptions bo;
  bo.micro_batch_size = c.micro_batch_size;
  bo.sequence_len = c.sequence_len;
  bo.sample_packing = c.sample_packing;
  bo.group_by_length = c.group_by_length;
  bo.seed = static_cast<uint64_t>(c.seed);
  bo.pad_id = pad_token_id(model->tokenizer->vocab());
  BatchStream stream(train, bo);
  // The planner's prediction for this run, recorded next to the measurements in the summary.
  TrainConfig planned = c;
  if (lora) {  // an init_adapter brings its own rank and targets
    planned.lora_r = lora->config.r;
    planned.lora_target_modules = lora_targets_string(lora->config.targets);
  }
  const RunPrediction plan =
      predict_training_run(planned, shape_from_config(model->name, model->config, c.base_model),
                           largest_batch_shape(train, validation, bo),
                           static_cast<double>(data.stats.tokens + data.validation_stats.tokens));
  const int64_t ga = c.gradient_accumulation_steps;
  const int64_t total_steps =
      c.max_steps > 0 ? c.max_steps : std::max<int64_t>(1, (c.num_epochs * stream.batches_per_epoch() + ga - 1) / ga);
  const std::string layout = trainables.layout + " data=" + std::to_string(stream.fingerprint());
  const LrScheduleParams schedule{parse_lr_schedule(c.lr_scheduler), c.learning_rate, c.warmup_steps, total_steps};

  TrainerState state;
  state.layout = layout;
  state.config_yaml = train_config_to_yaml(c);
  if (!c.resume_from_checkpoint.empty()) {
    const std::string dir = resolve_checkpoint(c.resume_from_checkpoint, c.output_dir);
    std::vector<float> values(trainables.count);
    state = load_checkpoint(dir, values, trainables.m, trainables.v, layout);
    trainables.scatter_values(values);
    pass.weights_changed();
    std::fprintf(stderr, "resumed from %s at step %lld\n", dir.c_str(), static_cast<long long>(state.step));
  }
  stream.seek(state.step * ga);

  int64_t model_params = model->config.parameter_count();
  TrainReport report;
  report.output_dir = c.output_dir;
  report.trainable_parameters = static_cast<int64_t>(trainables.count);
  report.total_parameters = model_params + (lora ? static_cast<int64_t>(lora->parameter_count()) : 0);
  std::fprintf(stderr, "%s: %s, %lld trainable parameters (%.3f%% of %lld), %s matmuls, %lld steps of %lld x %lld micro-batches\n",
               c.base_model.c_str(), full ? "full fine-tuning" : "LoRA", static_cast<long long>(trainables.count),
               100.0 * static_cast<double>(trainables.count) / static_cast<double>(report.total_parameters),
               static_cast<long long>(report.total_parameters), precision_name(precision).c_str(),
               static_cast<long long>(total_steps), static_cast<long long>(ga),
               static_cast<long long>(c.micro_batch_size));

  report.eval_loss_before = evaluate(pass, validation, bo);
  if (report.eval_loss_before >= 0 && state.step == 0) {
    state.eval_loss.push_back({0, report.eval_loss_before});
    std::fprintf(stderr, "eval loss before training: %.4f\n", report.eval_loss_before);
  }

  MetricsWriter metrics(c.output_dir + "/metrics.jsonl", state.step);
  ProgressDisplay progress(total_steps, stderr, c.logging_steps);
  const auto train_start = Clock::now();
  const double elapsed_before = state.elapsed_seconds;
  const int64_t tokens_before = state.tokens;
  double logged_loss = 0, training_tps = 0;  // training_tps: over the steps only, for the plan's self-check
  int64_t logged_steps = 0;
  std::vector<float> gathered;
  auto save = [&]() {
    trainables.gather_values(gathered);
    state.epoch = stream.epoch();
    state.data_position = stream.position();
    save_training_checkpoint(c.output_dir, state, gathered, trainables.m, trainables.v, c.save_total_limit);
  };

  for (int64_t step = state.step; step < total_steps; ++step) {
    std::vector<Batch> micro;
    int64_t targets = 0;
    for (int64_t k = 0; k < ga; ++k) {
      micro.push_back(stream.next());
      targets += micro.back().target_count();
      state.tokens += micro.back().token_count();
    }
    pass.zero_grad();
    double loss_sum = 0;
    // Normalised by every target of the whole optimizer step, so accumulation equals a big batch.
    const float loss_scale = targets > 0 ? 1.0f / static_cast<float>(targets) : 0.0f;
    for (int64_t k = 0; k < ga; ++k) {
      const uint64_t dropout_key = splitmix64(static_cast<uint64_t>(c.seed) ^ splitmix64(static_cast<uint64_t>(step * ga + k))) | 1;
      loss_sum += pass.forward_backward(micro[k], loss_scale, dropout_key).loss_sum;
    }
    const double loss = targets > 0 ? loss_sum / static_cast<double>(targets) : 0.0;
    const double grad_norm = clip_grad_norm(trainables.grads, c.max_grad_norm);
    const double lr = learning_rate_at(schedule, step);
    if (std::isfinite(grad_norm)) {
      adamw_update(trainables.segments,
                   {lr, c.adam_beta1, c.adam_beta2, c.adam_epsilon, c.weight_decay}, step + 1);
      if (full) pass.weights_changed();
    } else {
      progress.message("step " + std::to_string(step + 1) + ": non-finite gradient norm, update skipped");
    }
    state.step = step + 1;
    state.train_loss.push_back({state.step, loss});
    if (report.steps == 0) report.first_loss = loss;
    report.steps = state.step;
    report.last_loss = loss;
    logged_loss += loss;
    ++logged_steps;
    const double run_seconds = seconds_since(train_start);
    state.elapsed_seconds = elapsed_before + run_seconds;
    const double tps = static_cast<double>(state.tokens - tokens_before) / std::max(run_seconds, 1e-9);
    progress.update(state.step, loss, lr, tps, state.elapsed_seconds);
    training_tps = tps;

    const bool last = state.step == total_steps;
    MetricsRecord record;
    record.step = state.step;
    record.epoch = static_cast<double>(stream.position()) / static_cast<double>(stream.batches_per_epoch());
    record.tokens = state.tokens;
    record.tokens_per_second = tps;
    record.elapsed_seconds = state.elapsed_seconds;
    bool write = false;
    if (state.step % c.logging_steps == 0 || last) {
      record.loss = logged_loss / static_cast<double>(logged_steps);
      record.learning_rate = lr;
      record.grad_norm = grad_norm;
      logged_loss = 0;
      logged_steps = 0;
      write = true;
    }
    if (!validation.empty() && ((c.eval_steps > 0 && state.step % c.eval_steps == 0) || last)) {
      const double eval_loss = evaluate(pass, validation, bo);
      state.eval_loss.push_back({state.step, eval_loss});
      record.eval_loss = eval_loss;
      report.eval_loss_after = eval_loss;
      progress.message("step " + std::to_string(state.step) + ": eval loss " + std::to_string(eval_loss));
      write = true;
    }
    if (write) metrics.write(record);
    if ((c.save_steps > 0 && state.step % c.save_steps == 0) || last) save();
  }
  progress.finish();
  if (report.steps == 0) report.steps = state.step;

  // Artifacts the ecosystem reads.
  if (lora) {
    report.adapter_dir = c.output_dir + "/adapter";
    write_peft_adapter(report.adapter_dir, *lora, model->config, c.base_model);
    write_gguf_lora(c.output_dir + "/adapter.gguf", *lora, model->config, model->name);
  } else {
    export_hf(*model, c.output_dir + "/model", ExportDtype::BF16);
  }
  write_loss_plot(c.output_dir + "/loss.svg", state.train_loss, state.eval_loss);

  const double run_seconds = seconds_since(train_start);
  report.tokens = state.tokens;
  report.tokens_per_second = static_cast<double>(state.tokens - tokens_before) / std::max(run_seconds, 1e-9);
  report.wall_seconds = seconds_since(wall_start);
  report.peak_rss_bytes = peak_rss_bytes();
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "trained %lld steps: loss %.4f -> %.4f%s\ntrainable parameters %lld (%.3f%% of %lld)\n"
                "throughput %.0f tokens/s, peak RSS %s, wall time %.1f s\noutputs in %s\n",
                static_cast<long long>(report.steps), report.first_loss, report.last_loss,
                report.eval_loss_after >= 0
                    ? (", eval loss " + std::to_string(report.eval_loss_before) + " -> " + std::to_string(report.eval_loss_after)).c_str()
                    : "",
                static_cast<long long>(report.trainable_parameters),
                100.0 * static_cast<double>(report.trainable_parameters) / static_cast<double>(report.total_parameters),
                static_cast<long long>(report.total_parameters), report.tokens_per_second,
                human_bytes(static_cast<double>(report.peak_rss_bytes)).c_str(), report.wall_seconds, c.output_dir.c_str());
  report.summary_text = buf + self_check_text(plan, static_cast<double>(report.peak_rss_bytes), training_tps);
  nlohmann::ordered_json j;
  j["steps"] = report.steps;
  j["first_loss"] = report.first_loss;
  j["last_loss"] = report.last_loss;
  if (report.eval_loss_after >= 0) {
    j["eval_loss_before"] = report.eval_loss_before;
    j["eval_loss_after"] = report.eval_loss_after;
  }
  j["trainable_parameters"] = report.trainable_parameters;
  j["total_parameters"] = report.total_parameters;
  j["tokens"] = report.tokens;
  j["tokens_per_second"] = report.tokens_per_second;
  j["peak_rss_bytes"] = report.peak_rss_bytes;
  j["wall_seconds"] = report.wall_seconds;
  j["precision"] = precision_name(precision);
  j["plan"] = self_check_json(plan, static_cast<double>(report.peak_rss_bytes), training_tps);
  write_file_atomically(c.output_dir + "/summary.json", j.dump(2) + "\n");
  return report;
}

}  // namespace frugal
