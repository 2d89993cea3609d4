#include "plan/frugal_runtime.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "plan/plan_format.h"
#include "quant/nf4.h"

namespace frugal {

namespace {

constexpr double kF32 = 4, kBf16 = 2;

// adamw8bit state of one trainable tensor as frugal allocates it (train/optimizer_8bit.h): two bytes per
// value and two fp32 absmax per 256-value block, or fp32 moments (8 B per value) below min_8bit_size.
double eight_bit_state_bytes(double count) {
  if (count < static_cast<double>(kOptimizer8bitMinSize)) return 8 * count;
  return 2 * count + 2 * kF32 * std::ceil(count / static_cast<double>(kOptimizer8bitBlocksize));
}

// The state of every trainable tensor, for the optimizers whose bytes are not a fixed rate per value.
double optimizer_state_bytes(const PlanInputs& in, double trainable) {
  if (in.optimizer != Optimizer::AdamW8bit || !in.model.has_dims() || in.lora_fraction > 0)
    return trainable * optimizer_state_bytes_per_parameter(in.optimizer);
  const LlamaConfig& c = in.model.config;
  const double L = static_cast<double>(c.n_layers);
  double bytes = 0;
  if (in.uses_lora()) {
    for (WeightRole role : in.lora_targets) {  // A [r, in] and B [out, r] in every block
      const double r = static_cast<double>(in.lora_r);
      bytes += L * (eight_bit_state_bytes(r * static_cast<double>(linear_in_features(c, role))) +
                    eight_bit_state_bytes(r * static_cast<double>(linear_out_features(c, role))));
    }
    return bytes;
  }
  double counted = 0;
  auto add = [&](double count, double times) {
    bytes += times * eight_bit_state_bytes(count);
    counted += times * count;
  };
  for (WeightRole role : all_linear_roles())
    add(static_cast<double>(linear_in_features(c, role) * linear_out_features(c, role)), L);
  const double V = static_cast<double>(c.vocab_size), C = static_cast<double>(c.dim);
  add(V * C, c.tied_output ? 1 : 2);
  // Norms, biases and the rest: each smaller than min_8bit_size in any model planned here.
  bytes += 8 * std::max(0.0, trainable - counted);
  return bytes;
}

void note_unmodelled(const PlanInputs& in, MemoryBreakdown& m) {
  if (in.ranks <= 1 && in.zero_stage > 0) m.notes.push_back("one rank: ZeRO shards nothing");
  if (in.zero_stage == 3 && in.uses_lora())
    m.notes.push_back("frugal's ZeRO-3 shards full fine-tuning's weights only (LoRA runs use stages 0-2)");
  if (in.optimizer == Optimizer::AdamW8bit && in.ranks > 1 && in.zero_stage > 0)
    m.notes.push_back("frugal's adamw8bit needs zero_stage 0: its state is planned unsharded");
  if (in.gradient_dtype != Dtype::F32) m.notes.push_back("frugal keeps gradients in fp32: --grad-dtype is ignored");
  if (in.weights_dtype && in.method != Method::Qlora && *in.weights_dtype != Dtype::F32)
    m.notes.push_back("frugal keeps every weight as fp32 (plus bf16 copies): --weights-dtype is ignored");
}

}  // namespace

MemoryBreakdown frugal_runtime_memory(const PlanInputs& in) {
  if (!in.model.has_dims())
    fail("--profile frugal", in.model.name, "needs the model's dimensions (a preset or a file)");
  MemoryBreakdown m;
  m.profile = "frugal";
  note_unmodelled(in, m);
  const LlamaConfig& c = in.model.config;
  const double P = in.model.parameters;
  const double L = static_cast<double>(c.n_layers), C = static_cast<double>(c.dim), F = static_cast<double>(c.ffn_dim);
  const double V = static_cast<double>(c.vocab_size), H = static_cast<double>(c.n_heads);
  const double HD = static_cast<double>(c.q_dim()), KD = static_cast<double>(c.kv_dim());
  const double widest = std::max({C, HD, F});
  const double head = V * C;  // the output head's matrix (the embedding itself when tied)
  const double projections = L * static_cast<double>(block_linear_parameters(c));
  const bool qlora = in.method == Method::Qlora;
  const bool bf16 = in.mixed_precision;
  // Data parallelism (src/dist/sharded_trainables.h), per rank; the root rank, which also gathers
  // checkpoints, is the one planned.
  const double S = static_cast<double>(std::max<int64_t>(in.ranks, 1));
  const int stage = in.ranks > 1 ? in.zero_stage : 0;
  const bool full = in.method == Method::Full;
  const bool zero3 = stage == 3 && full;
  const double block = projections / std::max(L, 1.0);  // one block's projections

  // Model: LlamaWeights (fp32) and the bf16 copies prepare_bf16 makes for the fast path.
  // Bits of a compact base's projections: the GGUF file's own, int8 with one fp32 scale per row, or
  // the 4-bit formats with their scales.
  const double rows_per_weight = (HD + 2 * KD + C + 2 * F + C) * L / std::max(projections, 1.0);
  const double base_bits = in.base_bits_per_weight > 0 ? in.base_bits_per_weight
                           : in.resolved_weights_dtype() == Dtype::Int8 ? 8 + 32 * rows_per_weight
                                                                       : dtype_bits(in.resolved_weights_dtype(), in.double_quant);
  if (qlora) {
    const double bits = base_bits;
    m.items.push_back({"weights", projections * bits / 8 + (P - projections) * kF32,
                       count_str(projections) + " projections x " + bits_str(bits) + " + " +
                           count_str(P - projections) + " embeddings/norms x 4 B"});
  } else if (zero3) {
    m.items.push_back({"weights", (P - projections + projections / S + block) * kF32,
                       count_str(P - projections) + " embeddings/norms + 1/" + count_str(S) + " of " +
                           count_str(projections) + " projections + 1 gathered block, x 4 B (ZeRO-3)"});
  } else {
    m.items.push_back({"weights", P * kF32, count_str(P) + " x 4 B (LlamaWeights, fp32)"});
  }
  if (bf16) {
    const double copied = qlora ? head : zero3 ? head + block : projections + head;
    m.items.push_back({"weights bf16 copies", copied * kBf16,
                       count_str(copied) + (qlora ? " (output head)" : " (projections + output head)") + " x 2 B"});
  }
  const double tokenizer = V * kFrugalTokenizerBytesPerToken;
  m.items.push_back(
      {"tokenizer", tokenizer, count_str(V) + " tokens x ~" + bytes_str_per(kFrugalTokenizerBytesPerToken)});

  // Trainable state: the LoRA arena (values + gradients) or a second LlamaWeights for gradients,
  // and AdamW's moments over whatever is trainable.
  if (in.method != Method::Inference) {
    const double n = in.trainable_parameters();
    if (in.uses_lora()) m.items.push_back({"lora adapters", n * kF32, count_str(n) + " x 4 B (LoraAdapter::values)"});
    if (stage >= 2) {
      // The pass's gradient buffers (full fine-tuning: a block's projections only between its
      // backward and their reduce-scatter), the summed shard, and one shard-sized receive buffer.
      const double local = full ? n - projections + block : n;
      const double largest = full ? std::max({V * C, F * C, HD * C}) : n;
      m.items.push_back({"gradients", (local + n / S + largest / S) * kF32,
                         count_str(local) + " in the pass + 1/" + count_str(S) + " summed shard + 1/" + count_str(S) +
                             " of the largest tensor (reduce-scatter buffer), x 4 B (ZeRO-" + std::to_string(stage) +
                             ")"});
    } else {
      m.items.push_back({"gradients", n * kF32,
                         count_str(n) + " x 4 B (" + (in.uses_lora() ? "lora_grads" : "full_grads LlamaWeights") + ")"});
    }
    const double state = optimizer_state_bytes(in, n);
    const double ob = n > 0 ? state / n : 0;
    const double state_share = stage >= 1 && in.optimizer != Optimizer::AdamW8bit ? 1 / S : 1;
    m.items.push_back({"optimizer state", state * state_share,
                       count_str(n) + " x " + bytes_str_per(ob) + " (" + optimizer_name(in.optimizer) + " state)" +
                           (state_share < 1 ? " / " + count_str(S) + " ranks" : "")});
  }

  // TrainingPass::ensure_buffers, for N = B*T tokens.
  const double N = static_cast<double>(in.micro_batch * in.seq_len);
  const double r = in.uses_lora() ? static_cast<double>(in.lora_r) : 0;
  const double adapted = in.uses_lora() ? static_cast<double>(in.lora_targets.size()) : 0;
  if (in.method != Method::Inference) {
    // LayerActivations: xn1, x_mid, xn2 [N,C]; q, att [N,HD]; k, v [N,KD]; g, u, h [N,F]; lse [N,H];
    // inv1, inv2 [N]; lora_t [N,r] per adapted projection.
    const double per_set = N * (3 * C + 2 * HD + 2 * KD + 3 * F + H + 2 + adapted * r) * kF32;
    const double sets = in.gradient_checkpointing ? 1 : L;
    m.items.push_back({"activations", sets * per_set,
                       (in.gradient_checkpointing ? std::string("1 scratch set") : count_str(L) + " layers") +
                           " x N(3C + 2HD + 2KVD + 3F + H + 2 + targets r) x 4 B"});
    m.items.push_back({"layer inputs", L * N * C * kF32, "L x N x C x 4 B (kept with or without checkpointing)"});
    // x_, x_final_norm_, d_final_, dx_, dxn_ [N,C]; inv_final_ [N]; dh_, dg_, du_ [N,F]; d_att_, dq_
    // [N,HD]; dk_, dv_ [N,KD]; tmp_, drop_buf_, lora_dx_ [N, widest]; lora_tmp_ [N,r].
    const double scratch = N * (5 * C + 1 + 3 * F + 2 * HD + 2 * KD + 3 * widest + r) * kF32;
    m.items.push_back({"backward scratch", scratch, "N(5C + 1 + 3F + 2HD + 2KVD + 3 widest + r) x 4 B"});
    // attention_train_fast.cpp's scratch for one (row, kv head): the group's G = H/KVH queries,
    // outputs and their gradients [G*T, D] x4, keys, values and theirs [T, D] x4, scores and their
    // gradients [G*T, T] x2, segment starts [T] (int64); T = tokens per row.
    const double T = static_cast<double>(in.seq_len), G = H / static_cast<double>(c.n_kv_heads);
    const double D = static_cast<double>(c.head_dim);
    m.items.push_back({"attention scratch", (4 * G * T * D + 4 * T * D + 2 * G * T * T) * kF32 + T * 8,
                       "(4 G T D + 4 T D + 2 G T^2) x 4 B, G = H/KVH, T = tokens per row"});
    // Cross-entropy: [256, V] fp32 logits and [256, C] inputs and input gradients, zero-filled whole
    // when first sized (so resident even for shorter batches), and the list of rows with a target.
    const double chunk = static_cast<double>(kFrugalCrossEntropyChunkRows), rows = std::min(chunk, N);
    if (bf16)  // matmul_onednn.cpp rounds each matmul's activation input into one reused buffer: the
               // widest is N x widest, or the logits' gradient [rows, V] going back through the head.
      m.items.push_back({"bf16 activation cast", std::max(N * widest, rows * V) * kBf16,
                         "max(N x widest, min(256, N) x V) x 2 B (matmul input rounding)"});
    // QLoRA: matmul_onednn.cpp's weight_view dequantizes one 4-bit projection at a time into a
    // reused fp32 scratch (plus its bf16 rounding under bf16 matmuls), sized by the largest
    // projection, and quantized_matrix.cpp decodes its double-quantized block scales (one fp32 per
    // 64 weights) into another.
    if (qlora) {
      double largest = 0;
      for (WeightRole role : all_linear_roles())
        largest = std::max(largest, static_cast<double>(linear_in_features(c, role) * linear_out_features(c, role)));
      const double per_weight = kF32 + (bf16 ? kBf16 : 0) + (in.double_quant ? kF32 / 64 : 0);
      m.items.push_back({"4-bit dequant scratch", largest * per_weight,
                         count_str(largest) + " (largest projection) x " + bytes_str_per(per_weight) +
                             " (fp32" + (bf16 ? " + bf16" : "") + (in.double_quant ? " + block scales" : "") + ")"});
    }
    m.items.push_back(
        {"logits and loss", (chunk * V + 2 * chunk * C) * kF32 + N * 8, "256 rows x (V + 2C) x 4 B + row list"});
    m.items.push_back({"batch", N * 4 * 4, "tokens, positions, segments, targets: 4 x N x 4 B"});
    if (in.data_tokens > 0)
      m.items.push_back({"tokenized data", in.data_tokens * 8,
                         count_str(in.data_tokens) + " tokens x 8 B (Example tokens + labels)"});
    // Saving, with every buffer above still allocated: the checkpoint streams the trainable arrays
    // straight from where they live, checksummed as written; only a sharded array passes through one
    // tensor-sized buffer on the root as it is gathered. After the last save the optimizer state and
    // gradient shards are freed, then the artifacts are written: full fine-tuning's HF export holds a
    // bf16 copy of every weight (2 B/param) and, under ZeRO-3, the gathered blocks; LoRA's a copy of
    // the adapter.
    const double n = in.trainable_parameters();
    const bool sharded = stage >= 1;
    const double largest_tensor = full ? std::max({V * C, F * C, HD * C}) : n;
    const double gather_buffer = sharded ? largest_tensor * kF32 : 0;
    const double freed = optimizer_state_bytes(in, n) * (sharded && in.optimizer != Optimizer::AdamW8bit ? 1 / S : 1) +
                         (stage >= 2 ? (n + (full ? std::max({V * C, F * C, HD * C}) : n)) / S * kF32 : 0);
    const double exported = (full ? P * kBf16 + (zero3 ? projections * (1 - 1 / S) * kF32 : 0) : n * kF32) - freed;
    m.items.push_back({"checkpoint and export", std::max({gather_buffer, exported, 0.0}),
                       sharded ? "one tensor gathered on the root while saving (" + gb_str(gather_buffer) +
                                     "), or the export after the last save"
                               : "the export after the last save, beyond the freed optimizer state (" +
                                     gb_str(std::max(exported, 0.0)) + ")"});
  } else {
    // InferenceSession: fp32 K/V caches per layer for the whole context, logits of the last position.
    m.items.push_back({"kv cache", kv_cache_bytes(c, in.seq_len, in.micro_batch, 4), "2 L s b KVH D x 4 B (fp32)"});
    m.items.push_back({"logits and loss", static_cast<double>(in.micro_batch) * V * kF32, "b V x 4 B"});
  }
  m.items.push_back({"fixed overhead", kFrugalFixedOverheadBytes, "process, libraries, OpenMP, oneDNN (measured)"});
  if (S > 1 && in.method != Method::Inference) {
    // Open MPI's all-reduce (ring) and reduce-scatter work through a scratch copy of about one
    // rank's share of the message: measured 55-65 MB above the buffers listed for SmolLM2's
    // 28M-value embedding over 2 ranks.
    const double largest = full ? std::max({V * C, F * C, HD * C}) : in.trainable_parameters();
    m.items.push_back({"mpi", kFrugalMpiOverheadBytes + largest / S * kF32,
                       "Open MPI per rank (measured) + a share of the largest gradient tensor in collectives"});
  }

  // While loading, the model file is mapped and read in full next to the fp32 weights being filled.
  // QLoRA quantizes each projection as it is read (one fp32 matrix per loading thread at a time;
  // the loader uses every OpenMP thread of this process).
  const double loading_threads = static_cast<double>(omp_get_max_threads());
  if (in.source_file_bytes > 0) {
    const double loaded = qlora ? (P - projections) * kF32 + projections * base_bits / 8 +
                                      loading_threads * std::max({F * C, HD * C}) * kF32
                                : P * kF32;
    m.load_phase_bytes = loaded + in.source_file_bytes + tokenizer + kFrugalFixedOverheadBytes;
  }
  return m;
}

ComputeEstimate frugal_runtime_compute(const PlanInputs& in, int threads) {
  const bool bf16 = in.mixed_precision;
  ComputeInputs ci;
  ci.peak_flops = std::max(threads, 1) * (bf16 ? kFrugalBf16FlopsPerThread : kFrugalF32FlopsPerThread);
  ci.mfu = 1;
  ComputeEstimate e = estimate_compute(in, ci);
  char buf[160];
  std::snprintf(buf, sizeof buf, "frugal's sustained %.3g GFLOP/s per thread (%s matmuls, fitted) x %d threads",
                (bf16 ? kFrugalBf16FlopsPerThread : kFrugalF32FlopsPerThread) / 1e9, bf16 ? "bf16" : "f32",
                std::max(threads, 1));
  e.basis = buf;
  return e;
}

}  // namespace frugal
