// Every training option, declared once (name, default, help, validation) in train_config.cpp.
// The same declarations drive the YAML config keys, the CLI overrides (--learning_rate 1e-4),
// `frugal train --help`, and the resolved config echoed into the output folder and checkpoints.
// Key names follow what users know from PEFT / transformers / axolotl.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace frugal {

struct TrainConfig {
  // model and data
  std::string base_model;               // GGUF file, HF folder or llama2.c .bin
  std::string tokenizer;                // needed for llama2.c models
  std::string dataset;                  // JSON / JSONL file
  std::string dataset_format = "auto";  // auto | text | instruction | chat
  std::string instruction_key = "instruction", input_key = "input", output_key = "output";
  std::string text_key = "text", messages_key = "messages";
  std::string val_dataset;       // optional separate validation file
  double val_set_size = 0.0;     // fraction (<1) or count (>=1) held out of `dataset` when no val file
  bool train_on_inputs = false;  // false = completion-only loss for instruction / chat data
  int64_t sequence_len = 512;
  bool sample_packing = false;
  bool group_by_length = false;
  std::string output_dir = "frugal-out";
  std::string resume_from_checkpoint;  // checkpoint folder, or "latest" for output_dir's newest
  std::string init_adapter;            // PEFT adapter folder to start from
  // method
  std::string method = "lora";  // lora | full
  int64_t lora_r = 8;
  double lora_alpha = 16;
  double lora_dropout = 0.0;
  std::string lora_target_modules = "all-linear";
  bool use_rslora = false;
  bool load_in_4bit = false;                  // QLoRA: the frozen linear weights in 4 bits
  std::string bnb_4bit_quant_type = "nf4";    // nf4 | fp4
  bool bnb_4bit_use_double_quant = true;      // 8-bit block scales (0.127 instead of 0.5 bits/param)
  bool load_in_8bit = false;                  // the frozen linear weights as int8 rows (LLM.int8's layout)
  bool keep_gguf_quantization = false;        // a GGUF base's linear weights kept in the file's types
  // context extension (axolotl's `rope_scaling: {type: linear, factor: 4}`)
  std::string rope_scaling_type = "none";     // none | linear | dynamic | yarn
  double rope_scaling_factor = 1.0;
  int64_t rope_scaling_original_max_position_embeddings = 0;  // 0: the model's trained context
  // optimisation
  double learning_rate = 2e-4;
  std::string lr_scheduler = "cosine";  // constant | linear | cosine
  int64_t warmup_steps = 0;
  std::string optim = "adamw_torch";  // adamw_torch | adamw_8bit | sgd (transformers' names)
  double momentum = 0.0;              // sgd only
  double weight_decay = 0.0;
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_epsilon = 1e-8;
  double max_grad_norm = 1.0;  // 0 = no clipping
  int64_t max_nonfinite_steps = 5;  // skipped NaN/inf steps in a row before the run stops
  int64_t micro_batch_size = 1;
  int64_t gradient_accumulation_steps = 1;
  int64_t num_epochs = 1;
  int64_t max_steps = 0;  // optimizer steps; > 0 overrides num_epochs
  bool gradient_checkpointing = false;
  bool bf16 = true;  // bf16 matmuls with fp32 accumulation where the CPU has native bf16
  // several processes (mpirun): each rank takes micro_batch_size rows of every global micro-batch
  int64_t zero_stage = 0;  // 0 | 1 | 2 | 3
  // bookkeeping
  int64_t logging_steps = 1;
  int64_t eval_steps = 0;        // 0 = evaluate only at the end
  int64_t save_steps = 0;        // 0 = save only at the end
  int64_t save_total_limit = 0;  // checkpoints kept in output_dir (newest first); 0 = keep all
  int64_t seed = 42;
  int64_t threads = 0;  // 0 = all cores

  friend bool operator==(const TrainConfig&, const TrainConfig&) = default;
};

// Reads a YAML config (keys as above; a dotted name such as rope_scaling.factor is written either
// flat or as a key of its mapping, `rope_scaling: {factor: 4}`), then applies `overrides` ("--key value" pairs from the
// command line), validates every value, and fails with "file: key: problem" on anything wrong,
// including unknown keys.
TrainConfig load_train_config(const std::string& yaml_path, const std::vector<std::string>& overrides);
TrainConfig train_config_from_overrides(const std::vector<std::string>& overrides);  // no YAML file
// The resolved config as YAML, every key, for the output folder and the log.
std::string train_config_to_yaml(const TrainConfig& config);
// `frugal train --help`: every key with its default and help text.
std::string train_config_help();

}  // namespace frugal
