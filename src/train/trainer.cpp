#include "train/trainer.h"

#include <omp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/counter_rng.h"
#include "core/error.h"
#include "core/peak_rss.h"
#include "core/precision.h"
#include "core/writable_folder.h"
#include "data/batching.h"
#include "data/pipeline.h"
#include "parallel/communicator.h"
#include "train/sharded_trainables.h"
#include "io/export_model.h"
#include "io/gguf_lora.h"
#include "io/peft_adapter.h"
#include "kernels/peak_flops.h"
#include "model/model.h"
#include "model/training_pass.h"
#include "plan/plan_format.h"
#include "train/train_plan.h"
#include "train/checkpoint.h"
#include "train/loss_plot.h"
#include "train/metrics.h"
#include "train/nonfinite_guard.h"
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

// The trainable tensors as the optimizer, the ranks and checkpoints see them: LoRA's one arena, or
// every weight of the model (full fine-tuning), in weight_slots order.
std::vector<TrainableTensor> trainable_tensors(Model& model, LoraAdapter* lora, TrainingPass& pass,
                                               std::string& layout, bool per_matrix) {
  std::vector<TrainableTensor> tensors;
  if (lora) {
    float* values = lora->values.data();
    float* grads = pass.lora_grads().data();
    if (per_matrix) {
      // Every A and B its own tensor, in arena order (so the arrays read the same as one): what
      // bitsandbytes sees as PEFT's parameters, each with its own quantization blocks.
      std::vector<std::pair<size_t, size_t>> spans;  // offset, count
      for (const LoraLayer& l : lora->layers) {
        const size_t r = static_cast<size_t>(lora->config.r);
        spans.emplace_back(l.a_offset, r * static_cast<size_t>(l.in));
        spans.emplace_back(l.b_offset, static_cast<size_t>(l.out) * r);
      }
      std::sort(spans.begin(), spans.end());
      size_t at = 0;
      for (const auto& [offset, count] : spans) {
        if (offset != at) fail("lora", "", "internal: the adapter arena is not the concatenation of its matrices");
        tensors.push_back({values + offset, grads + offset, count});
        at += count;
      }
      if (at != lora->values.size()) fail("lora", "", "internal: the adapter arena has values outside its matrices");
    } else {
      tensors.push_back({values, grads, lora->values.size()});
    }
    layout = "lora r=" + std::to_string(lora->config.r) + " targets=" + lora_targets_string(lora->config.targets) +
             " layers=" + std::to_string(model.config.n_layers) + " values=" + std::to_string(lora->values.size());
    return tensors;
  }
  const std::vector<WeightSlot> values = weight_slots(model.config, model.weights);
  const std::vector<WeightSlot> grads = weight_slots(model.config, pass.full_grads());
  size_t count = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    TrainableTensor t{values[i].data, grads[i].data, static_cast<size_t>(values[i].rows * values[i].cols)};
    if (values[i].layer >= 0 && values[i].cols > 1) {  // a block's linear weight
      t.value_matrix = &linear_weight(model.weights, values[i].role, values[i].layer);
      t.grad_matrix = &linear_weight(pass.full_grads(), values[i].role, values[i].layer);
      t.layer = values[i].layer;
    }
    count += t.count;
    tensors.push_back(t);
  }
  layout = "full layers=" + std::to_string(model.config.n_layers) + " values=" + std::to_string(count);
  return tensors;
}

// Mean loss over `examples`; under data parallelism each rank evaluates its rows of every global
// micro-batch and the sums are added up.
double evaluate(TrainingPass& pass, const std::vector<Example>& examples, const BatchingOptions& options,
                Communicator& comm) {
  if (examples.empty()) return -1;
  BatchingOptions o = options;
  o.shuffle = false;
  BatchStream stream(examples, o);
  double sums[2] = {0, 0};  // loss, targets
  for (int64_t i = 0; i < stream.batches_per_epoch(); ++i) {
    const Batch mine = stream.next(comm.rank(), comm.size());
    CrossEntropyResult r = pass.evaluate(mine.B ? mine : placeholder_batch(o.pad_id));
    sums[0] += r.loss_sum;
    sums[1] += static_cast<double>(r.count);
  }
  comm.all_reduce_sum(std::span<double>(sums, 2));
  return sums[1] > 0 ? sums[0] / sums[1] : -1;
}

// How the frozen base is held: plain fp32, 4 bits (QLoRA), int8 rows, or the GGUF file's own types.
LoadOptions base_load_options(const TrainConfig& c) {
  LoadOptions load;
  check_base_settings(c);
  const int compact = c.load_in_4bit + c.load_in_8bit + c.keep_gguf_quantization;
  if (compact == 0) return load;
  const char* key = c.load_in_4bit ? "load_in_4bit" : c.load_in_8bit ? "load_in_8bit" : "keep_gguf_quantization";
  if (compact > 1) fail(key, "", "choose one of load_in_4bit, load_in_8bit and keep_gguf_quantization");
  if (c.method == "full") fail(key, "", "a compact base is frozen: use method: lora");
  if (c.keep_gguf_quantization) {
    load.keep_gguf_types = true;
  } else {
    LinearQuantization q{c.bnb_4bit_quant_type == "fp4" ? Quant4Type::kFp4 : Quant4Type::kNf4, c.bnb_4bit_use_double_quant};
    q.int8 = c.load_in_8bit;
    load.quantize_linears = q;
  }
  return load;
}

// Where the ranks other than the root send their progress line.
std::FILE* null_stream() {
  static std::FILE* f = std::fopen("/dev/null", "w");
  return f;
}

// The dataset lines of the records in global micro-batches [first, first + count) of `stream`, sorted:
// what a message about a bad step points at. Replans the epochs involved (only called for such steps).
std::vector<int64_t> batch_lines(const BatchStream& stream, int64_t first, int64_t count,
                                 const std::vector<int64_t>& lines) {
  std::vector<int64_t> out;
  int64_t planned_epoch = -1;
  std::vector<BatchPlan> plans;
  for (int64_t p = first; p < first + count; ++p) {
    const int64_t epoch = p / stream.batches_per_epoch(), index = p % stream.batches_per_epoch();
    if (epoch != planned_epoch) plans = stream.plan(planned_epoch = epoch);
    for (const std::vector<int64_t>& row : plans[static_cast<size_t>(index)])
      for (int64_t example : row) out.push_back(lines[static_cast<size_t>(example)]);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
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
  Communicator& comm = world();
  const bool root = comm.is_root();
  const int rank = comm.rank(), ranks = comm.size();
  // Only the root rank talks to the user and writes the output folder.
  std::FILE* log = root ? stderr : nullptr;
  auto say = [&](const std::string& line) {
    if (log) std::fprintf(log, "%s\n", line.c_str());
  };
  const bool full = c.method == "full";
  if (c.zero_stage == 3 && !full)
    fail("zero_stage", "3", "stage 3 shards the weights of full fine-tuning; LoRA's state is small: use 0, 1 or 2");
  const Precision precision = c.bf16 && cpu_has_native_bf16() ? Precision::BF16 : Precision::F32;
  if (root) {  // before the model loads: a folder that cannot take the outputs ends the run now
    ensure_writable_folder(c.output_dir, "output_dir");
    // A run killed before this one may have left temporaries; they are of no use to anyone.
    clear_interrupted_saves(c.output_dir);
    for (const char* sub : {"/adapter", "/model"}) remove_dead_writers_temporaries(c.output_dir + sub);
    write_file_atomically(c.output_dir + "/config.yaml", train_config_to_yaml(c));
  }

  const LoadOptions load = base_load_options(c);
  std::unique_ptr<Model> model = load_model(c.base_model, c.tokenizer, load);
  // rope_scaling: the model is trained (and its adapter saved) for the stretched context.
  ContextExtension extension = requested_context_extension(c);
  if (extension.extends() && extension.original_context == 0) extension.original_context = model->config.context_length;
  extend_context(model->config, extension, c.base_model);
  PreparedData data = prepare_data(data_options(c), *model->tokenizer);
  say(data.summary);
  const std::vector<Example>& train = data.train;
  const std::vector<Example>& validation = data.validation;

  std::unique_ptr<LoraAdapter> lora;
  if (!full) {
    if (!c.init_adapter.empty()) {
      const bool gguf = c.init_adapter.size() > 5 && c.init_adapter.substr(c.init_adapter.size() - 5) == ".gguf";
      lora = std::make_unique<LoraAdapter>(gguf ? read_gguf_lora(c.init_adapter, model->config)
                                                : read_peft_adapter(c.init_adapter, model->config));
      lora->config.dropout = static_cast<float>(c.lora_dropout);
      const ContextExtension& trained = lora->context_extension;
      if (trained.extends() && extension.extends() && !(trained == extension))
        fail(c.init_adapter, "rope_scaling",
             "the adapter was trained with " + context_extension_text(trained) + ", the config asks for " +
                 context_extension_text(extension) + ": drop the config's rope_scaling or start a fresh adapter");
      if (trained.extends() && !extension.extends()) {
        extension = trained;
        extend_context(model->config, extension, c.init_adapter);
      }
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
  if (lora) lora->context_extension = extension;  // saved with the adapter, applied wherever it is loaded
  if (extension.extends() && !requested_context_extension(c).extends())
    say("init_adapter was trained with rope_scaling " + context_extension_text(extension) + ": the model runs with it");
  else if (std::string note = context_note(c, model->config); !note.empty())
    say(note.substr(0, note.size() - 1));
  TrainingPass pass(*model, lora.get(), {precision, c.gradient_checkpointing, full});
  std::string trainable_layout;
  const OptimizerChoice optimizer = optimizer_choice(c.optim, c.momentum, c.output_dir);
  ShardedTrainables trainables(trainable_tensors(*model, lora.get(), pass, trainable_layout,
                                                 optimizer.kind == OptimKind::AdamW8bit),
                               comm,
                               static_cast<int>(c.zero_stage), precision == Precision::BF16, optimizer);
  if (trainables.wants_hooks()) pass.set_layer_hooks(&trainables);

  // The per-rank batching a user asked for, and the stream of global micro-batches (all ranks' rows)
  // every rank walks in step.
  BatchingOptions rank_bo;
  rank_bo.micro_batch_size = c.micro_batch_size;
  rank_bo.sequence_len = c.sequence_len;
  rank_bo.sample_packing = c.sample_packing;
  rank_bo.group_by_length = c.group_by_length;
  rank_bo.seed = static_cast<uint64_t>(c.seed);
  rank_bo.pad_id = pad_token_id(model->tokenizer->vocab());
  BatchingOptions bo = rank_bo;
  bo.micro_batch_size = c.micro_batch_size * ranks;
  BatchStream stream(train, bo);
  // Every rank must see the same data, or the shards would not add up to the global batch. The
  // global stream's fingerprint goes into checkpoints: another world size with the same global
  // micro-batch (ranks x micro_batch_size) resumes at exactly the same place in the data.
  const uint64_t data_fingerprint = stream.fingerprint();
  if (comm.distributed()) {
    int64_t fp[2] = {static_cast<int64_t>(data_fingerprint), -static_cast<int64_t>(data_fingerprint)};
    comm.all_reduce_max(std::span<int64_t>(fp, 2));
    if (fp[0] != -fp[1])
      fail(c.dataset, comm.describe(), "the ranks tokenized different data (is the dataset the same file on every host?)");
  }
  // The planner's prediction for this run, recorded next to the measurements in the summary.
  TrainConfig planned = c;
  if (lora) {  // an init_adapter brings its own rank and targets
    planned.lora_r = lora->config.r;
    planned.lora_target_modules = lora_targets_string(lora->config.targets);
  }
  const RunPrediction plan =
      predict_training_run(planned, shape_from_config(model->name, model->config, c.base_model),
                           largest_batch_shape(train, validation, rank_bo),
                           static_cast<double>(data.stats.tokens + data.validation_stats.tokens), ranks);
  const int64_t ga = c.gradient_accumulation_steps;
  const int64_t total_steps =
      c.max_steps > 0 ? c.max_steps : std::max<int64_t>(1, (c.num_epochs * stream.batches_per_epoch() + ga - 1) / ga);
  // AdamW's checkpoints keep the layout they always had; another optimizer's state is named in it.
  const std::string layout = trainable_layout + " data=" + std::to_string(data_fingerprint) +
                             (optimizer.kind == OptimKind::AdamW ? "" : " optim=" + optim_name(optimizer.kind));
  const LrScheduleParams schedule{parse_lr_schedule(c.lr_scheduler), c.learning_rate, c.warmup_steps, total_steps};

  TrainerState state;
  state.layout = layout;
  state.config_yaml = train_config_to_yaml(c);
  state.world_size = ranks;
  const std::vector<CheckpointArray> checkpoint_arrays = trainables.checkpoint_arrays();
  std::vector<std::vector<uint8_t>> arrays(checkpoint_arrays.size());
  std::string newest_checkpoint;  // root: the last checkpoint written or resumed from, for messages
  if (!c.resume_from_checkpoint.empty()) {
    // The root reads the checkpoint (it lives in the root's output folder) and hands every rank its part.
    int64_t resumed[3] = {0, 0, 0};  // step, tokens, skipped steps
    if (root) {
      const std::string dir = resolve_checkpoint(c.resume_from_checkpoint, c.output_dir);
      std::vector<std::span<uint8_t>> dest;
      for (size_t i = 0; i < arrays.size(); ++i) {
        arrays[i].resize(checkpoint_arrays[i].count * safe_dtype_size(checkpoint_arrays[i].dtype));
        dest.emplace_back(arrays[i]);
      }
      state = load_checkpoint(dir, checkpoint_arrays, dest, layout);
      say("resumed from " + dir + " at step " + std::to_string(state.step));
      if (state.world_size != ranks)
        say("the checkpoint was written by " + std::to_string(state.world_size) + " rank(s), this run has " +
            std::to_string(ranks) + "; the global micro-batch (" + std::to_string(bo.micro_batch_size) +
            " rows) is the same, so the data continues where it stopped");
      state.world_size = ranks;
      resumed[0] = state.step;
      resumed[1] = state.tokens;
      resumed[2] = state.skipped_steps;
      newest_checkpoint = dir;
    }
    comm.broadcast(std::as_writable_bytes(std::span<int64_t>(resumed, 3)));
    state.step = resumed[0];
    state.tokens = resumed[1];
    state.skipped_steps = resumed[2];
    trainables.scatter(arrays);
    std::vector<std::vector<uint8_t>>().swap(arrays);
    pass.weights_changed();
  }
  stream.seek(state.step * ga);

  int64_t model_params = model->config.parameter_count();
  TrainReport report;
  report.output_dir = c.output_dir;
  report.trainable_parameters = static_cast<int64_t>(trainables.count());
  report.total_parameters = model_params + (lora ? static_cast<int64_t>(lora->parameter_count()) : 0);
  say(printf_str("%s: %s, %lld trainable parameters (%.3f%% of %lld), %s matmuls, %lld steps of %lld x %lld micro-batches",
                    c.base_model.c_str(), full ? "full fine-tuning" : "LoRA", static_cast<long long>(trainables.count()),
                    100.0 * static_cast<double>(trainables.count()) / static_cast<double>(report.total_parameters),
                    static_cast<long long>(report.total_parameters), precision_name(precision).c_str(),
                    static_cast<long long>(total_steps), static_cast<long long>(ga),
                    static_cast<long long>(c.micro_batch_size)));
  if (comm.distributed())
    say(printf_str("data parallel: %d ranks x %lld rows per micro-batch, ZeRO stage %lld", ranks,
                      static_cast<long long>(c.micro_batch_size), static_cast<long long>(c.zero_stage)));

  // MFU's denominator: the peak of this machine's threads, measured now (tens of milliseconds), on
  // the arithmetic the run's matmuls use.
  const PeakFlops machine_peak =
      measure_peak_flops(precision == Precision::BF16 ? PeakKind::Bf16DotF32 : PeakKind::F32Fma, omp_get_max_threads());
  report.peak_flops_per_second = machine_peak.flops_per_second * ranks;
  say(printf_str("MFU: model FLOPs per second over this machine's measured peak, %.0f GFLOP/s%s (%s, %d threads)",
                 machine_peak.flops_per_second / 1e9, ranks > 1 ? " per rank" : "", machine_peak.basis,
                 machine_peak.threads));

  report.eval_loss_before = evaluate(pass, validation, bo, comm);
  if (report.eval_loss_before >= 0 && state.step == 0) {
    state.eval_loss.push_back({0, report.eval_loss_before});
    say(printf_str("eval loss before training: %.4f", report.eval_loss_before));
  }

  std::unique_ptr<MetricsWriter> metrics;
  if (root) metrics = std::make_unique<MetricsWriter>(c.output_dir + "/metrics.jsonl", state.step);
  std::FILE* progress_out = root ? stderr : null_stream();
  ProgressDisplay progress(total_steps, progress_out, c.logging_steps);
  const auto train_start = Clock::now();
  const double elapsed_before = state.elapsed_seconds;
  const int64_t tokens_before = state.tokens;
  const double comm_seconds_before = comm.seconds, comm_bytes_before = comm.bytes_sent;
  double training_tps = 0;  // over the steps only, for the plan's self-check
  double model_flops = 0;   // of this process's steps, all ranks
  IntervalLoss interval;     // what the progress line and metrics.jsonl both report as "loss"
  NonFiniteGuard guard(c.max_nonfinite_steps, state.skipped_steps, state.step);
  if (state.step > 0) guard.checkpoint_saved(state.step, root ? newest_checkpoint : "the checkpoint resumed from");
  // Ends the run with the guard's one-line reason; summary.json says why, next to the skipped count.
  auto stop = [&](int64_t step, bool weights_finite, double lr) {
    progress.finish();
    const std::string reason = guard.stop_reason(step, weights_finite, lr, c.dataset);
    if (root) {
      nlohmann::ordered_json j;
      j["steps"] = step;
      j["skipped_steps"] = guard.skipped_total();
      j["stopped"] = reason;
      write_file_atomically(c.output_dir + "/summary.json", j.dump(2) + "\n");
    }
    fail(reason);
  };
  auto save = [&](double lr) {  // collective: every rank takes part in gathering, the root writes
    // Weights a too-large step made infinite show only in the next step's loss: looked for here, so
    // no checkpoint ever holds them (and the run cannot recover from them, so it ends).
    if (!trainables.all_finite()) stop(state.step, false, lr);
    if (guard.in_bad_run()) {
      progress.message("step " + std::to_string(state.step) +
                       ": no checkpoint saved, the weights just gave a non-finite loss");
      return;
    }
    state.skipped_steps = guard.skipped_total();
    std::string dir = c.output_dir + "/checkpoint-" + std::to_string(state.step);
    if (root) {
      state.epoch = stream.epoch();
      state.data_position = stream.position();
      try {
        dir = save_training_checkpoint(
            c.output_dir, state, checkpoint_arrays,
            [&](size_t array, const ByteSink& sink) { trainables.stream(array, &sink); }, c.save_total_limit);
      } catch (const Error& e) {  // a full disk, say: what the user still has matters as much
        fail(std::string(e.what()) + " (checkpoint-" + std::to_string(state.step) + " not saved; " +
             (newest_checkpoint.empty() ? "no earlier checkpoint" : newest_checkpoint + " is intact") + ")");
      }
      newest_checkpoint = dir;
    } else {
      for (size_t array : checkpoint_stream_order(checkpoint_arrays)) trainables.stream(array, nullptr);
    }
    guard.checkpoint_saved(state.step, dir);
  };

  std::vector<Batch> micro(static_cast<size_t>(ga));
  for (int64_t step = state.step; step < total_steps; ++step) {
    const int64_t first_micro_batch = stream.position();
    int64_t counts[2] = {0, 0};  // targets, tokens: this rank's, then every rank's
    double sums[2] = {0, 0};     // loss, model FLOPs: this rank's, then every rank's
    for (int64_t k = 0; k < ga; ++k) {
      micro[k] = stream.next(rank, ranks);
      counts[0] += micro[k].target_count();
      counts[1] += micro[k].token_count();
      sums[1] += model_training_flops(plan.inputs, static_cast<double>(micro[k].token_count()), micro[k].T);
    }
    comm.all_reduce_sum(std::span<int64_t>(counts, 2));
    const int64_t targets = counts[0];
    state.tokens += counts[1];
    pass.zero_grad();
    trainables.start_step();
    double loss_sum = 0;
    // Normalised by every target of the whole optimizer step (all micro-batches of all ranks), so
    // accumulation and data parallelism both equal one big batch.
    const float loss_scale = targets > 0 ? 1.0f / static_cast<float>(targets) : 0.0f;
    for (int64_t k = 0; k < ga; ++k) {
      // Dropout masks differ between ranks (their rows are different rows of the global batch).
      const uint64_t dropout_key =
          splitmix64(static_cast<uint64_t>(c.seed) ^ splitmix64(static_cast<uint64_t>(step * ga + k)) ^
                     (rank ? splitmix64(~static_cast<uint64_t>(rank)) : 0)) | 1;
      const Batch& batch = micro[k].B ? micro[k] : placeholder_batch(rank_bo.pad_id);
      loss_sum += pass.forward_backward(batch, loss_scale, dropout_key).loss_sum;
      trainables.micro_batch_done();
    }
    trainables.reduce_gradients();
    sums[0] = loss_sum;
    comm.all_reduce_sum(std::span<double>(sums, 2));
    loss_sum = sums[0];
    model_flops += sums[1];
    const double loss = targets > 0 ? loss_sum / static_cast<double>(targets) : 0.0;
    const double grad_norm = trainables.clip(c.max_grad_norm);
    const double lr = learning_rate_at(schedule, step);
    // The loss and the norm are global: every rank takes the same branch.
    const bool finite = NonFiniteGuard::finite(loss, grad_norm);
    if (finite) {
      trainables.update({lr, c.adam_beta1, c.adam_beta2, c.adam_epsilon, c.weight_decay}, step + 1);
      if (full) pass.weights_changed();
      guard.finite_step(step + 1);
    } else {
      progress.message(guard.skip(step + 1, loss, grad_norm,
                                  root ? batch_lines(stream, first_micro_batch, ga, data.train_lines)
                                       : std::vector<int64_t>()));
    }
    state.step = step + 1;
    state.train_loss.push_back({state.step, loss});
    if (report.steps == 0) report.first_loss = loss;
    report.steps = state.step;
    report.last_loss = loss;
    if (finite) interval.add(loss_sum, targets);  // a NaN would hide the interval's other steps
    const double run_seconds = seconds_since(train_start);
    state.elapsed_seconds = elapsed_before + run_seconds;
    const double tps = static_cast<double>(state.tokens - tokens_before) / std::max(run_seconds, 1e-9);
    // An interval of skipped steps only has no loss to show: NaN says so, where 0 would look like one.
    const double interval_loss = finite || interval.targets() > 0 ? interval.mean() : std::nan("");
    report.flops_per_second = model_flops / std::max(run_seconds, 1e-9);
    report.mfu = report.flops_per_second / report.peak_flops_per_second;
    progress.update(state.step, interval_loss, lr, tps, state.elapsed_seconds, report.mfu);
    training_tps = tps;

    const bool last = state.step == total_steps;
    MetricsRecord record;
    record.step = state.step;
    record.epoch = static_cast<double>(stream.position()) / static_cast<double>(stream.batches_per_epoch());
    record.tokens = state.tokens;
    record.tokens_per_second = tps;
    record.flops_per_second = report.flops_per_second;
    record.mfu = report.mfu;
    record.elapsed_seconds = state.elapsed_seconds;
    record.skipped = !finite;
    record.skipped_steps = guard.skipped_total();
    bool write = false;
    if (state.step % c.logging_steps == 0 || last || !finite) {
      record.loss = interval_loss;
      record.step_loss = loss;
      record.learning_rate = lr;
      record.grad_norm = grad_norm;
      interval.reset();
      write = true;
    }
    if (!validation.empty() && ((c.eval_steps > 0 && state.step % c.eval_steps == 0) || last)) {
      const double eval_loss = evaluate(pass, validation, bo, comm);
      state.eval_loss.push_back({state.step, eval_loss});
      record.eval_loss = eval_loss;
      report.eval_loss_after = eval_loss;
      progress.message("step " + std::to_string(state.step) + ": eval loss " + std::to_string(eval_loss));
      write = true;
    }
    if (write && metrics) metrics->write(record);
    // Stopped by a run of bad steps, or at once by weights that became non-finite (they never recover).
    if (!finite) {
      const bool weights_finite = trainables.all_finite();
      if (!weights_finite || guard.must_stop()) stop(state.step, weights_finite, lr);
    }
    if ((c.save_steps > 0 && state.step % c.save_steps == 0) || last) save(lr);
  }
  progress.finish();
  if (report.steps == 0) report.steps = state.step;
  trainables.release_optimizer_state();  // saved; what follows needs the weights only

  // Artifacts the ecosystem reads.
  if (lora) {
    report.adapter_dir = c.output_dir + "/adapter";
    if (root) {
      write_peft_adapter(report.adapter_dir, *lora, model->config, c.base_model);
      write_gguf_lora(c.output_dir + "/adapter.gguf", *lora, model->config, model->name);
      if (extension.type == RopeType::Dynamic)
        say("adapter.gguf: llama.cpp has no dynamic NTK RoPE scaling; run the adapter with frugal or transformers");
      else if (extension.extends())
        say(printf_str("adapter.gguf: llama.cpp takes RoPE scaling from flags, not from an adapter: --rope-scaling %s "
                       "--rope-scale %g%s",
                       rope_type_name(extension.type), extension.factor,
                       extension.type == RopeType::Yarn
                           ? (" --yarn-orig-ctx " + std::to_string(extension.original_context)).c_str()
                           : ""));
    }
  } else {
    trainables.gather_all_weights();  // ZeRO-3: the blocks' shards, collectively
    if (root) export_hf(*model, c.output_dir + "/model", ExportDtype::BF16);
    trainables.release_all_weights();
  }
  if (root) write_loss_plot(c.output_dir + "/loss.svg", state.train_loss, state.eval_loss);

  const double run_seconds = seconds_since(train_start);
  report.tokens = state.tokens;
  report.tokens_per_second = static_cast<double>(state.tokens - tokens_before) / std::max(run_seconds, 1e-9);
  report.wall_seconds = seconds_since(wall_start);
  // Every rank's peak; the summary reports the largest (what each machine must have).
  int64_t peak = peak_rss_bytes();
  comm.all_reduce_max(std::span<int64_t>(&peak, 1));
  report.peak_rss_bytes = peak;
  report.ranks = ranks;
  report.comm_seconds = comm.seconds - comm_seconds_before;
  report.comm_bytes = comm.bytes_sent - comm_bytes_before;
  report.skipped_steps = guard.skipped_total();
  if (!root) return report;
  std::string text = printf_str(
      "trained %lld steps: step loss %.4f -> %.4f%s\ntrainable parameters %lld (%.3f%% of %lld)\n"
      "throughput %.0f tokens/s, training steps %.1f GFLOP/s = MFU %.1f%% of the measured peak, peak RSS %s%s, "
      "wall time %.1f s\n",
      static_cast<long long>(report.steps), report.first_loss, report.last_loss,
      report.eval_loss_after >= 0
          ? (", eval loss " + std::to_string(report.eval_loss_before) + " -> " + std::to_string(report.eval_loss_after)).c_str()
          : "",
      static_cast<long long>(report.trainable_parameters),
      100.0 * static_cast<double>(report.trainable_parameters) / static_cast<double>(report.total_parameters),
      static_cast<long long>(report.total_parameters), report.tokens_per_second, report.flops_per_second / 1e9,
      100 * report.mfu, human_bytes(static_cast<double>(report.peak_rss_bytes)).c_str(), comm.distributed() ? " (largest rank)" : "",
      report.wall_seconds);
  if (comm.distributed())
    text += printf_str("data parallel: %d ranks, ZeRO stage %lld, communication %.1f s of the run (rank 0), %.1f MB sent by rank 0\n",
                          ranks, static_cast<long long>(c.zero_stage), report.comm_seconds, report.comm_bytes / 1e6);
  if (report.skipped_steps > 0)
    text += std::to_string(report.skipped_steps) + " step(s) skipped: non-finite loss or gradient norm\n";
  text += "outputs in " + c.output_dir + "\n";
  report.summary_text = text + self_check_text(plan, static_cast<double>(report.peak_rss_bytes), training_tps);
  nlohmann::ordered_json j;
  j["steps"] = report.steps;
  j["skipped_steps"] = report.skipped_steps;
  j["first_step_loss"] = report.first_loss;
  j["last_step_loss"] = report.last_loss;
  if (report.eval_loss_after >= 0) {
    j["eval_loss_before"] = report.eval_loss_before;
    j["eval_loss_after"] = report.eval_loss_after;
  }
  j["trainable_parameters"] = report.trainable_parameters;
  j["total_parameters"] = report.total_parameters;
  j["tokens"] = report.tokens;
  j["tokens_per_second"] = report.tokens_per_second;
  j["flops_per_second"] = report.flops_per_second;
  j["mfu"] = report.mfu;
  j["peak_flops_per_second"] = report.peak_flops_per_second;
  j["peak_flops_basis"] = std::string(machine_peak.basis) + ", " + std::to_string(machine_peak.threads) + " threads x " +
                          std::to_string(ranks) + " rank(s), measured at the start";
  j["peak_rss_bytes"] = report.peak_rss_bytes;
  j["wall_seconds"] = report.wall_seconds;
  j["precision"] = precision_name(precision);
  j["ranks"] = ranks;
  j["zero_stage"] = c.zero_stage;
  j["communication_seconds"] = report.comm_seconds;
  j["communication_bytes"] = report.comm_bytes;
  j["plan"] = self_check_json(plan, static_cast<double>(report.peak_rss_bytes), training_tps);
  write_file_atomically(c.output_dir + "/summary.json", j.dump(2) + "\n");
  return report;
}

}  // namespace frugal
