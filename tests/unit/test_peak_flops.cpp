// The measured peak that MFU divides by: a positive finite rate on the threads asked for, on the
// arithmetic asked for (or the fallback named). No bound on the value: the machine is shared.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "kernels/peak_flops.h"

namespace frugal {
namespace {

TEST(PeakFlops, MeasuresAPositiveRateOnTheThreadsAsked) {
  for (PeakKind kind : {PeakKind::F32Fma, PeakKind::Bf16DotF32}) {
    const PeakFlops p = measure_peak_flops(kind, 1);
    EXPECT_EQ(p.threads, 1);
    EXPECT_TRUE(std::isfinite(p.flops_per_second));
    EXPECT_GT(p.flops_per_second, 0) << p.basis;
    EXPECT_FALSE(std::string(p.basis).empty());
  }
  EXPECT_NE(std::string(measure_peak_flops(PeakKind::F32Fma, 1).basis).find("fp32 FMA"), std::string::npos);
}

}  // namespace
}  // namespace frugal
