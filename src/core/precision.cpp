#include "core/precision.h"

#include <cpuid.h>

#include "core/error.h"

namespace frugal {

namespace {

// AMX-BF16 from CPUID itself: clang 14's __builtin_cpu_supports does not know "amx-bf16" (the
// sanitizer and fuzz builds use clang). Usable only when the OS saves the tile state (XCR0 bits 17-18).
bool cpu_has_amx_bf16() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return false;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 22))) return false;
  unsigned xcr0_low, xcr0_high;
  __asm__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
  return (xcr0_low & 0x60000u) == 0x60000u;
}

}  // namespace

bool cpu_has_native_bf16() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16") || cpu_has_amx_bf16();
}

Precision parse_precision(const std::string& name) {
  if (name == "f32" || name == "fp32") return Precision::F32;
  if (name == "bf16") return Precision::BF16;
  if (name == "auto") return cpu_has_native_bf16() ? Precision::BF16 : Precision::F32;
  fail("unknown precision '" + name + "' (use f32, bf16 or auto)");
}

std::string precision_name(Precision p) { return p == Precision::F32 ? "f32" : "bf16"; }

}  // namespace frugal
