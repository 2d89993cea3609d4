// ggml tensor element types as stored in GGUF files: ids, block geometry and dequantization.
// Block layouts follow ggml-common.h exactly (see shared/reference/ECOSYSTEM.md §3c).
#pragma once
#include <cstdint>
#include <string>

namespace frugal {

enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  BF16 = 30,
};

// True for the types this engine can read (dequantize).
bool ggml_type_supported(uint32_t type);
// Elements per block (1 for float types) and bytes per block; only for supported types.
int64_t ggml_block_elems(GgmlType type);
int64_t ggml_block_bytes(GgmlType type);
// Bytes of a row of `n` elements; n must be a multiple of the block size.
uint64_t ggml_row_bytes(GgmlType type, int64_t n);
std::string ggml_type_name(uint32_t type);  // "Q4_K", or "type 23" for ids we do not know

// Scalar reference: decode `n` consecutive elements (n a multiple of the block size) to fp32.
void dequantize_row_ref(GgmlType type, const void* src, float* dst, int64_t n);
// Fast path (SIMD where it pays); same results as the reference bit for bit.
void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n);
// Which instruction set `dequantize_row` was compiled for: "avx512", "avx2" or "scalar" (for logs and tests).
const char* ggml_dequant_isa();

// Encoders used when writing GGUF (merged models, Q8_0 export): fp32 -> blocks, as ggml's reference quantizer.
void quantize_row_q8_0(const float* src, void* dst, int64_t n);

}  // namespace frugal
