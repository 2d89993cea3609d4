// This machine's peak arithmetic rate, measured: the denominator of a run's MFU (model FLOPs
// utilisation, PaLM's definition: the model's FLOPs per second over the hardware's peak).
//
// Measured rather than looked up because the same CPU model runs at different clocks (boost, cloud
// caps, a shared host), and a table of vendor peaks would flatter or shame every run alike. The
// measure is a register-only loop of independent fused multiply-adds (the widest the build targets:
// AVX-512 on this machine), on every thread at once, for a few tens of milliseconds: a rate no real
// kernel beats, since it never waits for memory.
#pragma once

namespace frugal {

enum class PeakKind {
  F32Fma,      // fp32 fused multiply-add: 2 FLOPs per lane
  Bf16DotF32,  // AVX512-BF16's vdpbf16ps: 2 bf16 products summed into each fp32 lane, 4 FLOPs per lane
};

struct PeakFlops {
  double flops_per_second = 0;  // all `threads` together
  int threads = 0;
  const char* basis = "";  // what was measured, for logs: "fp32 FMA (AVX-512), 2 threads"
};

// Runs the loop on `threads` OpenMP threads (0: OpenMP's default). Bf16DotF32 falls back to F32Fma
// (and says so in `basis`) where the build has no AVX512-BF16.
PeakFlops measure_peak_flops(PeakKind kind, int threads);

}  // namespace frugal
