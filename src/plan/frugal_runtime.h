// The "frugal" memory profile: every buffer frugal's own training run allocates, named and sized
// the way the code sizes it, so the prediction can be compared line by line with a measured peak
// RSS. It follows
//  - src/model/weights.h: every weight kept as fp32, plus a bf16 copy of each linear weight (and of
//    the output head) when bf16 matmuls are on;
//  - src/model/training_pass.cpp: saved activations per layer (one scratch set under gradient
//    checkpointing), every layer's input, backward scratch, all sized once for B*T tokens;
//  - src/kernels/cross_entropy.cpp: 256-row chunks of [rows, V] fp32 logits;
//  - the LoRA arena (values, gradients) and AdamW's two fp32 moments;
//  - a fixed overhead for the process, its libraries, OpenMP and oneDNN, measured.
// It is distinct from the lecture's generic model (memory_model.h): update it whenever those files
// change what they allocate.
#pragma once
#include "plan/memory_model.h"

namespace frugal {

// Resident set of the process beyond the buffers listed here (binary and libraries, OpenMP threads,
// oneDNN primitives and scratch): fitted to peak RSS of frugal_bench_train_step on SmolLM2-135M,
// LoRA r=16 on all linear layers, 512 tokens (f32: 1221.6 MB, bf16 + checkpointing: 1041.1 MB,
// bf16 at micro-batch 4: 3182.0 MB measured; the profile predicts each within 1.5%).
constexpr double kFrugalFixedOverheadBytes = 45e6;
// Tokenizer tables (token strings, lookup index, merges) per vocabulary entry: an estimate.
constexpr double kFrugalTokenizerBytesPerToken = 200;
// Rows of logits the chunked cross-entropy materialises at once (its default chunk_rows).
constexpr int64_t kFrugalCrossEntropyChunkRows = 256;

// Needs the model's dimensions. Settings frugal does not implement (ZeRO, optimizers other than
// AdamW, gradients in 16 bits, a 16-bit frozen base) are noted, not modelled.
MemoryBreakdown frugal_runtime_memory(const PlanInputs& inputs);

}  // namespace frugal
