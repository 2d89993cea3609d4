// The plan of one `frugal train` run: its TrainConfig mapped onto the planner's inputs in one place,
// so `frugal train --plan-only` and the trainer's self-check (planned vs measured peak RSS and
// tokens/s in its summary) predict the same run the same way.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/batching.h"
#include "model/context_extension.h"
#include "plan/compute_model.h"
#include "plan/memory_model.h"
#include "train/train_config.h"

namespace frugal {

// A model's shape from its file, reading as little as possible: a GGUF header only; HF folders and
// llama2.c files are loaded whole for now (their config readers are private to the loaders).
// `tokenizer` is what llama2.c files need.
ModelShape model_shape_from_file(const std::string& path, const std::string& tokenizer = "");
// Bytes the loader maps: the file, or a folder's safetensors shards.
double model_file_bytes(const std::string& path);

// Fails in one line when the settings cannot apply to a folder bitsandbytes saved quantized (its
// linear weights stay 4- or 8-bit as stored): full fine-tuning, or asking for the other bits.
// Checked before loading.
void check_base_settings(const TrainConfig& config);

// The run `config` describes on `model`, in `profile`: method, LoRA rank and targets, micro-batch x
// sequence_len, accumulation, checkpointing, and mixed precision when bf16 is asked for and this CPU
// multiplies bf16 natively (what run_training decides). The frugal profile also counts the mapped
// model file of the load phase. AdamW with fp32 gradients, one rank: all frugal does. A folder
// bitsandbytes saved quantized is planned as QLoRA over its stored 4 or 8 bits.
PlanInputs plan_inputs_from_train_config(const TrainConfig& config, const ModelShape& model,
                                         Profile profile = Profile::Frugal);

// The context extension the rope_scaling keys ask for (type none: none).
ContextExtension requested_context_extension(const TrainConfig& config);
// A line on the run's context: the extension and the context it reaches, or a warning when
// sequence_len is past what the model was trained for with nothing to stretch it; "" otherwise.
// `model` is the config after extend_context.
std::string context_note(const TrainConfig& config, const LlamaConfig& model);

// Threads the run uses: config.threads, or OpenMP's default (all cores) for 0.
int training_threads(const TrainConfig& config);

// The largest micro-batch a run will really see, B rows x T tokens: B is the fullest micro-batch
// (micro_batch_size, or fewer when there are fewer rows), T the longest example (dynamic padding)
// or sequence_len (packing). Over every epoch, training and evaluation alike.
struct BatchShape {
  int64_t rows = 0, tokens_per_row = 0;
};
BatchShape largest_batch_shape(const std::vector<Example>& train, const std::vector<Example>& validation,
                               const BatchingOptions& options);

// What the trainer records next to its measurements.
struct RunPrediction {
  PlanInputs inputs;        // frugal profile, for the shape planned
  MemoryBreakdown memory;   // memory.peak(): the predicted peak RSS
  ComputeEstimate compute;  // compute.tokens_per_second: the predicted throughput
  std::string shape_basis;  // "longest micro-batch of the data, 4 x 312 tokens" or "... sequence_len"
};
// `shape` 0 x 0: plan for micro_batch_size x sequence_len. `data_tokens`: tokens of the tokenized
// dataset held in memory (train + validation). `ranks` > 1: one rank of a data-parallel run, with
// config.zero_stage's sharding.
RunPrediction predict_training_run(const TrainConfig& config, const ModelShape& model, BatchShape shape,
                                   double data_tokens, int ranks = 1);

// "peak RSS 1.65 GiB (planned 1.60 GiB, +3%), training steps 412 tokens/s (planned 380, +8%);
// planned for ...", and the plan as a JSON object for summary.json: the planned figures, the
// measurements and their errors in percent, what was planned for, the predicted components.
// The throughput compared is the training steps' running average, as the progress line shows it
// (loading, the final evaluation and the final save left out): what the compute model predicts.
// 0 leaves it out of the text.
std::string self_check_text(const RunPrediction& p, double measured_peak_rss_bytes,
                            double measured_training_tokens_per_second);
nlohmann::ordered_json self_check_json(const RunPrediction& p, double measured_peak_rss_bytes,
                                       double measured_training_tokens_per_second);

// `frugal train --plan-only`: the frugal profile's full report for the run (memory, compute, decision
// tree against this machine's memory), then the lecture profile's breakdown of the same run.
std::string train_plan_text(const TrainConfig& config);

}  // namespace frugal
