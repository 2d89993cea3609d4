// Arithmetic used for matmuls: fp32 everywhere (the reference), or bf16 inputs with fp32 accumulation.
#pragma once
#include <string>

namespace frugal {

enum class Precision { F32, BF16 };

Precision parse_precision(const std::string& name);  // "f32" | "bf16" | "auto"
std::string precision_name(Precision p);
// bf16 matmuls pay off only where the CPU multiplies bf16 natively (AVX512-BF16 or AMX).
bool cpu_has_native_bf16();

}  // namespace frugal
