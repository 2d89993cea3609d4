#include "plan/memory_model.h"

#include <cstdio>

#include "plan/frugal_runtime.h"
#include "plan/plan_format.h"

namespace frugal {

double MemoryBreakdown::total() const {
  double t = 0;
  for (const MemoryItem& i : items) t += i.bytes;
  return t;
}

double MemoryBreakdown::bytes_of(const std::string& name) const {
  for (const MemoryItem& i : items)
    if (i.name == name) return i.bytes;
  return 0;
}

double block_activation_bytes(const LlamaConfig& c, int64_t seq_len, int64_t micro_batch, int nb,
                              bool memory_efficient_attention) {
  const double s = static_cast<double>(seq_len), b = static_cast<double>(micro_batch);
  const double h = static_cast<double>(c.dim), a = static_cast<double>(c.n_heads);
  const double linear_part = (16.0 * nb + 2.0) * s * b * h;
  const double attention_part = memory_efficient_attention ? 4.0 * a * s * b : (2.0 * nb + 1.0) * a * s * s * b;
  return linear_part + attention_part;
}

double activation_bytes(const LlamaConfig& c, int64_t seq_len, int64_t micro_batch, int nb, bool gradient_checkpointing,
                        bool memory_efficient_attention) {
  const double block = block_activation_bytes(c, seq_len, micro_batch, nb, memory_efficient_attention);
  const double L = static_cast<double>(c.n_layers);
  if (!gradient_checkpointing) return L * block;
  const double block_inputs = L * static_cast<double>(seq_len * micro_batch * c.dim) * nb;
  return block_inputs + block;
}

double kv_cache_bytes(const LlamaConfig& c, int64_t seq_len, int64_t batch, int nb) {
  return 2.0 * static_cast<double>(c.n_layers) * static_cast<double>(seq_len * batch) *
         static_cast<double>(c.kv_dim()) * nb;
}

double optimizer_state_bytes_per_parameter(Optimizer o) {
  switch (o) {
    case Optimizer::AdamW:
      return 8.0;
    case Optimizer::AdamW8bit:
      return 2.0 * (1.0 + 4.0 / 2048.0);
    case Optimizer::Sgd:
      return 0.0;
    case Optimizer::SgdMomentum:
      return 4.0;
  }
  return 8.0;
}

namespace {

// Frozen or full weights at their storage type. A quantized base (QLoRA, 8-bit LoRA) quantizes the
// projections of the blocks only, as bitsandbytes does; embeddings, the head and norms stay in the
// compute type. A model known only by its size is quantized whole (the slides' idealisation).
MemoryItem weights_item(const PlanInputs& in) {
  const Dtype wd = in.resolved_weights_dtype();
  const double bits = dtype_bits(wd, in.double_quant);
  MemoryItem item{"weights", in.model.parameters * bits / 8.0,
                  count_str(in.model.parameters) + " x " + bits_str(bits) + " (" + dtype_name(wd) + ")"};
  if (in.method != Method::Full && is_quantized(wd) && in.model.has_dims()) {
    const double quantized = static_cast<double>(in.model.config.n_layers * block_linear_parameters(in.model.config));
    const double rest = in.model.parameters - quantized;
    const Dtype rd = in.compute_dtype();
    item.bytes = quantized * bits / 8.0 + rest * dtype_bits(rd, false) / 8.0;
    item.detail = count_str(quantized) + " block projections x " + bits_str(bits) + " (" + dtype_name(wd) + ") + " +
                  count_str(rest) + " embeddings/norms x " + dtype_name(rd);
  }
  if (in.uses_lora()) item.detail += ", frozen";
  return item;
}

void add_training_items(const PlanInputs& in, MemoryBreakdown& m) {
  const double n = in.trainable_parameters();
  const std::string n_str = count_str(n) + (in.method == Method::Full ? " params" : " trainable params");
  if (in.uses_lora()) {
    const double bits = dtype_bits(in.compute_dtype(), false);
    m.items.push_back({"lora adapters", n * bits / 8.0,
                       n_str + " x " + bits_str(bits) + " (" + dtype_name(in.compute_dtype()) + ")"});
  }
  if (in.mixed_precision) m.items.push_back({"master weights", n * 4.0, n_str + " x 4 B (fp32 copy for the update)"});
  const double gbits = dtype_bits(in.gradient_dtype, false);
  m.items.push_back(
      {"gradients", n * gbits / 8.0, n_str + " x " + bits_str(gbits) + " (" + dtype_name(in.gradient_dtype) + ")"});
  const double ob = optimizer_state_bytes_per_parameter(in.optimizer);
  m.items.push_back(
      {"optimizer state", n * ob, n_str + " x " + bytes_str_per(ob) + " (" + optimizer_name(in.optimizer) + ")"});

  if (!in.model.has_dims()) {
    m.notes.push_back("activations and logits need the model's dimensions: not counted");
    return;
  }
  const LlamaConfig& c = in.model.config;
  const int nb = in.activation_bytes();
  char buf[256];
  std::snprintf(buf, sizeof buf, "L((16 Nb + 2) s b h + %s), Nb=%d s=%lld b=%lld%s",
                in.memory_efficient_attention ? "4 a s b" : "(2 Nb + 1) a s^2 b", nb,
                static_cast<long long>(in.seq_len), static_cast<long long>(in.micro_batch),
                in.gradient_checkpointing ? ", checkpointed: L s b h Nb + one block" : "");
  m.items.push_back(
      {"activations",
       activation_bytes(c, in.seq_len, in.micro_batch, nb, in.gradient_checkpointing, in.memory_efficient_attention),
       buf});
  // Logits in the activation type, an fp32 copy for the softmax when they are 16-bit, and their
  // fp32 gradient.
  const double per_logit = nb + (nb < 4 ? 4.0 : 0.0) + 4.0;
  m.items.push_back({"logits and loss", static_cast<double>(in.seq_len * in.micro_batch * c.vocab_size) * per_logit,
                     "s b V x " + bytes_str_per(per_logit) + " (logits, fp32 softmax, fp32 gradient)"});
}

// ZeRO (Rajbhandari et al. 2020): stage 1 shards the optimizer state (master weights included),
// stage 2 also the gradients, stage 3 also the parameters, across the data-parallel ranks.
void apply_zero(const PlanInputs& in, MemoryBreakdown& m) {
  if (in.ranks <= 1 || in.zero_stage == 0) {
    if (in.ranks > 1) m.notes.push_back("data parallel without ZeRO: every rank holds everything");
    return;
  }
  const double N = static_cast<double>(in.ranks);
  for (MemoryItem& i : m.items) {
    const bool shard = ((i.name == "optimizer state" || i.name == "master weights") && in.zero_stage >= 1) ||
                       (i.name == "gradients" && in.zero_stage >= 2) ||
                       ((i.name == "weights" || i.name == "lora adapters") && in.zero_stage >= 3);
    if (!shard) continue;
    i.bytes /= N;
    i.detail += " / " + std::to_string(in.ranks) + " ranks (ZeRO-" + std::to_string(in.zero_stage) + ")";
  }
}

}  // namespace

MemoryBreakdown lecture_memory(const PlanInputs& in) {
  MemoryBreakdown m;
  m.profile = "lecture";
  m.items.push_back(weights_item(in));
  if (in.method == Method::Inference) {
    if (in.model.has_dims()) {
      const LlamaConfig& c = in.model.config;
      const int nb = in.activation_bytes();
      m.items.push_back({"kv cache", kv_cache_bytes(c, in.seq_len, in.micro_batch, nb),
                         "2 L s b KVH D x " + std::to_string(nb) + " B"});
      m.items.push_back(
          {"logits and loss", static_cast<double>(in.micro_batch * c.vocab_size) * 4.0, "b V x 4 B (last position)"});
    } else {
      m.notes.push_back("KV cache needs the model's dimensions: not counted");
    }
  } else {
    add_training_items(in, m);
  }
  apply_zero(in, m);
  if (in.ranks > 1) m.notes.push_back("per rank; micro-batch is per rank");
  return m;
}

MemoryBreakdown plan_memory(const PlanInputs& in) {
  in.validate();
  return in.profile == Profile::Frugal ? frugal_runtime_memory(in) : lecture_memory(in);
}

}  // namespace frugal
