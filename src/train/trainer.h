// The training run: config in, adapter (or model) and a report out. run_training is the one short
// linear loop of DESIGN.md: load -> tokenize -> batch -> forward/backward -> clip -> AdamW ->
// schedule -> log -> evaluate -> checkpoint; each step is a call into its own module.
#pragma once
#include <cstdint>
#include <string>

#include "train/train_config.h"

namespace frugal {

struct TrainReport {
  int64_t steps = 0;                 // optimizer steps this run finished at
  int64_t skipped_steps = 0;         // steps whose update was skipped (non-finite), resumed part included
  int64_t trainable_parameters = 0;
  int64_t total_parameters = 0;      // base model (+ adapter)
  double first_loss = 0, last_loss = 0;  // the first and last steps' own losses ("step_loss")
  double eval_loss_before = -1, eval_loss_after = -1;  // < 0: no validation data
  int64_t tokens = 0;                // training tokens processed (this run and any resumed part)
  double tokens_per_second = 0;      // over this process's training time
  // Model FLOPs (plan/compute_model.h) per second of the training steps, all ranks, and their share
  // of the peak measured at the start on every rank's threads (kernels/peak_flops.h): the MFU.
  double flops_per_second = 0, mfu = 0, peak_flops_per_second = 0;
  double wall_seconds = 0;
  int64_t peak_rss_bytes = 0;        // the largest of every rank's
  int ranks = 1;                     // data-parallel processes
  double comm_seconds = 0;           // in collectives, this rank, this run
  double comm_bytes = 0;             // payload this rank contributed to collectives
  std::string output_dir;
  std::string adapter_dir;           // PEFT folder (LoRA), or "" for full fine-tuning
  std::string summary_text;          // what was printed at the end
};

TrainReport run_training(const TrainConfig& config);

}  // namespace frugal
