// The "frugal" memory profile: every buffer frugal's own training run allocates, named and sized
// the way the code sizes it, so the prediction can be compared line by line with a measured peak
// RSS. It follows
//  - src/model/weights.h: every weight kept as fp32, plus a bf16 copy of each linear weight (and of
//    the output head) when bf16 matmuls are on;
//  - src/model/training_pass.cpp: saved activations per layer (one scratch set under gradient
//    checkpointing), every layer's input, backward scratch, all sized once for B*T tokens;
//  - src/kernels/attention_train_fast.cpp: one (row, kv head)'s scratch, with [G*T, T] scores;
//  - src/kernels/cross_entropy.cpp: 256-row chunks of [rows, V] fp32 logits;
//    src/kernels/matmul_onednn.cpp: the bf16 rounding buffer of matmul inputs;
//  - src/kernels/matmul_onednn.cpp and src/quant/quantized_matrix.cpp under QLoRA: one 4-bit
//    projection dequantized at a time (fp32, its bf16 rounding, its block scales);
//  - the LoRA arena (values, gradients) and AdamW's two fp32 moments;
//  - src/train/trainer.cpp and checkpoint.cpp when saving (arrays streamed to disk; sharded ones
//    through a tensor-sized buffer) and exporting (a bf16 copy of the model for full fine-tuning);
//  - src/dist/sharded_trainables.cpp under data parallelism: the root rank of `ranks`, with ZeRO's
//    shards of moments (1+), gradients (2+) and block weights (3, one block gathered at a time);
//  - a fixed overhead for the process, its libraries, OpenMP and oneDNN, measured.
// It is distinct from the lecture's generic model (memory_model.h): update it whenever those files
// change what they allocate.
#pragma once
#include "plan/compute_model.h"
#include "plan/memory_model.h"

namespace frugal {

// Resident set of the process beyond the buffers listed here (binary and libraries, OpenMP threads,
// oneDNN primitives and scratch), and the tokenizer's tables (token strings, lookup index, merges)
// per vocabulary entry: fitted to the peak RSS (VmHWM) of `frugal train` runs of 2-3 steps, with
// 512-token packed rows: SmolLM2-135M (vocabulary 49152), the 12 runs of the issue 5 grid ({full
// fp32, LoRA r=8 fp32, LoRA bf16} x {checkpointing off, on} x {micro-batch 1, 4}: 0.73-6.14 GiB),
// every one left 17-22 MB above the buffers listed, and stories260K (vocabulary 512, LoRA r=4,
// 2 x 256 tokens: 31.8 MB measured, 17.0 MB of buffers). The profile predicted each within 1%.
// Since `frugal serve` the program also maps Debian's cpp-httplib and what it links (OpenSSL,
// brotli): 4.5 MB more for every command, measured on `frugal info` and on the stories260K run
// (33.9 -> 38.5 MB), hence 14.5 + 4.5.
constexpr double kFrugalFixedOverheadBytes = 19e6;
constexpr double kFrugalTokenizerBytesPerToken = 390;
// What a rank of a data-parallel run adds (Open MPI's libraries, shared-memory transport, daemon
// connection): measured as the difference between 1 and 2 ranks of the same stories260K run.
constexpr double kFrugalMpiOverheadBytes = 9e6;
// Rows of logits the chunked cross-entropy materialises at once (its default chunk_rows).
constexpr int64_t kFrugalCrossEntropyChunkRows = 256;

// Training FLOP/s one thread of frugal's training pass sustains (all executed FLOPs of
// compute_model.h, recompute included, over the training steps' time), by matmul precision:
// fitted to the same SmolLM2-135M grid with 2 threads on an AMD EPYC with AVX-512 BF16 (no AMX),
// where every run reached 121-143 GFLOP/s per thread with f32 matmuls and 163-179 with bf16.
constexpr double kFrugalF32FlopsPerThread = 130e9;
constexpr double kFrugalBf16FlopsPerThread = 170e9;

// Needs the model's dimensions. Settings frugal does not implement (optimizers other than AdamW,
// gradients in 16 bits, a 16-bit frozen base) are noted, not modelled.
MemoryBreakdown frugal_runtime_memory(const PlanInputs& inputs);

// Tokens/s of frugal's training run with `threads` threads: compute_model.h's FLOPs per token at the
// sustained FLOP/s above (estimate_compute with that as the peak and an MFU of 1).
ComputeEstimate frugal_runtime_compute(const PlanInputs& inputs, int threads);

}  // namespace frugal
