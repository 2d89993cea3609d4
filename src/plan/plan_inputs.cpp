#include "plan/plan_inputs.h"

#include <utility>

#include "core/error.h"

namespace frugal {

namespace {

template <typename E>
using NameTable = std::vector<std::pair<E, const char*>>;

const NameTable<Method> kMethods = {
    {Method::Full, "full"}, {Method::Lora, "lora"}, {Method::Qlora, "qlora"}, {Method::Inference, "inference"}};
const NameTable<Dtype> kDtypes = {{Dtype::F32, "f32"},   {Dtype::BF16, "bf16"}, {Dtype::F16, "f16"},
                                  {Dtype::Int8, "int8"}, {Dtype::Int4, "int4"}, {Dtype::NF4, "nf4"},
                                  {Dtype::FP4, "fp4"}};
const NameTable<Optimizer> kOptimizers = {{Optimizer::AdamW, "adamw"},
                                          {Optimizer::AdamW8bit, "adamw8bit"},
                                          {Optimizer::Sgd, "sgd"},
                                          {Optimizer::SgdMomentum, "sgd-momentum"}};
const NameTable<Profile> kProfiles = {{Profile::Lecture, "lecture"}, {Profile::Frugal, "frugal"}};

template <typename E>
std::string name_of(const NameTable<E>& table, E value) {
  for (const auto& [v, n] : table)
    if (v == value) return n;
  return "?";
}

template <typename E>
E parse_name(const NameTable<E>& table, const std::string& s, const std::string& option) {
  std::string known;
  for (const auto& [v, n] : table) {
    if (s == n) return v;
    known += (known.empty() ? "" : ", ") + std::string(n);
  }
  fail("--" + option, s, "unknown value (one of: " + known + ")");
}

}  // namespace

std::string method_name(Method m) {
  return name_of(kMethods, m);
}
std::string dtype_name(Dtype d) {
  return name_of(kDtypes, d);
}
std::string optimizer_name(Optimizer o) {
  return name_of(kOptimizers, o);
}
std::string profile_name(Profile p) {
  return name_of(kProfiles, p);
}

Method parse_method(const std::string& s, const std::string& option) {
  return parse_name(kMethods, s, option);
}
Dtype parse_dtype(const std::string& s, const std::string& option) {
  if (s == "fp32" || s == "float32") return Dtype::F32;
  if (s == "fp16" || s == "float16") return Dtype::F16;
  return parse_name(kDtypes, s, option);
}
Optimizer parse_optimizer(const std::string& s, const std::string& option) {
  // The training config's spellings (transformers' `optim`) name the same states; paging changes where
  // the state lives, not its size.
  if (s == "adamw_torch" || s == "paged_adamw_32bit") return Optimizer::AdamW;
  if (s == "adamw_8bit" || s == "paged_adamw_8bit") return Optimizer::AdamW8bit;
  return parse_name(kOptimizers, s, option);
}
Profile parse_profile(const std::string& s, const std::string& option) {
  return parse_name(kProfiles, s, option);
}

double dtype_bits(Dtype d, bool double_quant) {
  switch (d) {
    case Dtype::F32:
      return 32;
    case Dtype::BF16:
    case Dtype::F16:
      return 16;
    case Dtype::Int8:
      return 8;  // per-row scales are a few bytes per row: left out
    case Dtype::Int4:
      return 4;
    case Dtype::NF4:
    case Dtype::FP4:
      // QLoRA (Dettmers et al. 2023), section 3: blocks of 64 with an fp32 absmax cost 32/64 =
      // 0.5 bit per weight; double quantization stores the absmaxes as 8 bits with one fp32 scale
      // per 256 of them: 8/64 + 32/(64*256) = 0.127 bit.
      return double_quant ? 4.0 + 8.0 / 64.0 + 32.0 / (64.0 * 256.0) : 4.0 + 32.0 / 64.0;
  }
  return 32;
}

bool is_quantized(Dtype d) {
  return d == Dtype::Int8 || d == Dtype::Int4 || d == Dtype::NF4 || d == Dtype::FP4;
}

Dtype PlanInputs::resolved_weights_dtype() const {
  if (weights_dtype) return *weights_dtype;
  switch (method) {
    case Method::Qlora:
      return Dtype::NF4;
    case Method::Inference:
      return Dtype::BF16;
    default:
      return mixed_precision ? Dtype::BF16 : Dtype::F32;
  }
}

int PlanInputs::activation_bytes() const {
  if (method == Method::Inference) return resolved_weights_dtype() == Dtype::F32 && !mixed_precision ? 4 : 2;
  return mixed_precision ? 2 : 4;
}

double PlanInputs::trainable_parameters() const {
  switch (method) {
    case Method::Inference:
      return 0;
    case Method::Full:
      return model.parameters;
    default:
      if (lora_fraction > 0) return lora_fraction * model.parameters;
      if (!model.has_dims()) fail("--lora-fraction", "", "a model known only by its size needs the LoRA fraction");
      return static_cast<double>(lora_parameter_count(model.config, lora_r, lora_targets));
  }
}

void PlanInputs::validate() const {
  if (!(model.parameters > 0)) fail("plan: no model (give --preset or -m)");
  auto positive = [](int64_t v, const char* name) {
    if (v < 1) fail(std::string("--") + name, std::to_string(v), "must be at least 1");
  };
  positive(micro_batch, "micro-batch");
  positive(seq_len, "seq-len");
  positive(grad_accum, "grad-accum");
  positive(ranks, "ranks");
  if (uses_lora() && lora_fraction <= 0) positive(lora_r, "lora-r");
  if (lora_fraction < 0 || lora_fraction >= 1)
    fail("--lora-fraction", std::to_string(lora_fraction), "must be in [0, 1)");
  if (zero_stage < 0 || zero_stage > 3) fail("--zero-stage", std::to_string(zero_stage), "must be 0, 1, 2 or 3");
  if (method == Method::Full && is_quantized(resolved_weights_dtype()))
    fail("--weights-dtype", dtype_name(resolved_weights_dtype()),
         "full fine-tuning cannot train quantized weights (use lora or qlora)");
  if (gradient_dtype != Dtype::F32 && gradient_dtype != Dtype::BF16 && gradient_dtype != Dtype::F16)
    fail("--grad-dtype", dtype_name(gradient_dtype), "gradients are f32, bf16 or f16");
}

}  // namespace frugal
