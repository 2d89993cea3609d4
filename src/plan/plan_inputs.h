// What a plan is computed for: the model, the fine-tuning method and its settings, the batch
// shape, data parallelism, and which memory profile (the lecture's generic accounting, or the
// buffers frugal's own training pass allocates).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "plan/model_shapes.h"

namespace frugal {

enum class Method { Full, Lora, Qlora, Inference };
// Storage of a weight. Int4 is the slides' idealised "4 bits per weight" with no block scales;
// NF4/FP4 are bitsandbytes' formats (4 bits + an fp32 absmax per 64 weights, or with double
// quantization an 8-bit absmax per 64 plus an fp32 scale per 256 absmaxes).
enum class Dtype { F32, BF16, F16, Int8, Int4, NF4, FP4 };
enum class Optimizer { AdamW, AdamW8bit, Sgd, SgdMomentum };
enum class Profile { Lecture, Frugal };

std::string method_name(Method m);        // full | lora | qlora | inference
std::string dtype_name(Dtype d);          // f32 | bf16 | f16 | int8 | int4 | nf4 | fp4
std::string optimizer_name(Optimizer o);  // adamw | adamw8bit | sgd | sgd-momentum
std::string profile_name(Profile p);      // lecture | frugal
// Each fails naming `option` and the accepted values.
Method parse_method(const std::string& s, const std::string& option = "method");
Dtype parse_dtype(const std::string& s, const std::string& option = "weights-dtype");
Optimizer parse_optimizer(const std::string& s, const std::string& option = "optimizer");
Profile parse_profile(const std::string& s, const std::string& option = "profile");

// Bits per stored weight, block scales included.
double dtype_bits(Dtype d, bool double_quant);
bool is_quantized(Dtype d);  // int8 / int4 / nf4 / fp4: frozen storage only, never trained directly

struct PlanInputs {
  ModelShape model;
  Method method = Method::Lora;
  int64_t lora_r = 8;
  std::vector<WeightRole> lora_targets = all_linear_roles();
  // > 0: trainable LoRA parameters as this fraction of the model (the slides' "0.4% extra
  // parameters"), instead of counting them from lora_r and lora_targets.
  double lora_fraction = 0;
  std::optional<Dtype> weights_dtype;  // unset: the method's usual (see resolved_weights_dtype)
  bool double_quant = true;
  double base_bits_per_weight = 0;  // a frozen base kept as a file stores it (GGUF types); 0: from the dtype
  bool mixed_precision = false;  // 16-bit weights and activations, fp32 master weights
  Dtype gradient_dtype = Dtype::F32;
  Optimizer optimizer = Optimizer::AdamW;
  bool gradient_checkpointing = false;
  bool memory_efficient_attention = false;  // attention scores never stored (FlashAttention-style)
  int64_t micro_batch = 1;
  int64_t seq_len = 512;
  int64_t grad_accum = 1;
  int64_t ranks = 1;   // data-parallel ranks
  int zero_stage = 0;  // 1: optimizer state sharded, 2: + gradients, 3: + parameters
  Profile profile = Profile::Lecture;
  double source_file_bytes = 0;  // frugal profile: the model file, mapped while loading
  double data_tokens = 0;        // frugal profile: tokens of the tokenized dataset held in memory

  // Full: bf16 under mixed precision, else f32. LoRA: the same for the frozen base. QLoRA: nf4.
  // Inference: bf16.
  Dtype resolved_weights_dtype() const;
  // Nb: bytes per activation value: 2 under mixed precision, else 4; for inference 4 only with
  // fp32 weights.
  int activation_bytes() const;
  // What is computed in, and what trainable weights and unquantized frozen tensors (embeddings,
  // norms) are stored as: bf16 when Nb = 2 (trainable weights then get an fp32 master copy).
  Dtype compute_dtype() const { return activation_bytes() == 2 ? Dtype::BF16 : Dtype::F32; }
  bool uses_lora() const { return method == Method::Lora || method == Method::Qlora; }
  double trainable_parameters() const;  // 0 for inference
  // Fails on inconsistent settings (training quantized weights, ZeRO stage without ranks, ...).
  void validate() const;
};

}  // namespace frugal
