#include "core/precision.h"

#include "core/error.h"

namespace frugal {

bool cpu_has_native_bf16() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16") || __builtin_cpu_supports("amx-bf16");
}

Precision parse_precision(const std::string& name) {
  if (name == "f32" || name == "fp32") return Precision::F32;
  if (name == "bf16") return Precision::BF16;
  if (name == "auto") return cpu_has_native_bf16() ? Precision::BF16 : Precision::F32;
  fail("unknown precision '" + name + "' (use f32, bf16 or auto)");
}

std::string precision_name(Precision p) { return p == Precision::F32 ? "f32" : "bf16"; }

}  // namespace frugal
