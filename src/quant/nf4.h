// bitsandbytes-compatible blockwise codecs: NF4 / FP4 (4-bit, QLoRA), blockwise int8 with the signed
// dynamic map, and double quantization of the fp32 block scales. Every function here reproduces what
// bitsandbytes (0.50.2, CPU backend) computes, bit for bit; see ECOSYSTEM.md §3e and
// tests/reference/make_nf4_fixtures.py. Data is a flat row-major array (torch [out, in] => blocks run
// along `in`); the last block may be short and gets its own absmax.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

namespace frugal {

enum class Quant4Type { kNf4, kFp4 };

// The 16-entry codebook, indexed by the 4-bit code (FP4: index = E2M1 bit pattern, values / 12).
const std::array<float, 16>& quant4_codebook(Quant4Type type);

// bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): 256 sorted values,
// generated the same way (float32 linspace, midpoints, powers of ten), not tabulated.
const std::array<float, 256>& dynamic_map_signed();
// bitsandbytes' 8-bit optimizers (0.50.2): moments quantized in blocks of 256 values; a parameter with
// fewer than min_8bit_size = 4096 values keeps fp32 moments.
inline constexpr int64_t kOptimizer8bitBlocksize = 256;
inline constexpr int64_t kOptimizer8bitMinSize = 4096;
// create_dynamic_map(signed=False): the map of 8-bit optimizers' second moments (non-negative), 256 values.
const std::array<float, 256>& dynamic_map_unsigned();

// Sizes.
inline int64_t quant4_packed_bytes(int64_t n) { return (n + 1) / 2; }
inline int64_t num_blocks(int64_t n, int64_t blocksize) { return (n + blocksize - 1) / blocksize; }

// Every codec below comes as a scalar reference (`_ref`, the readable statement of what bitsandbytes does)
// and the SIMD path under the plain name (AVX-512 when built for it, else the reference); the two give
// identical bits for every input and block size, which tests/unit/test_codecs_fast.cpp checks.
const char* quant_codecs_isa();  // "avx512" or "scalar"

// 4-bit blockwise quantization. x[n] -> packed[(n+1)/2] (first element in the HIGH nibble; an odd count is
// padded with the code of 0.0) and absmax[num_blocks(n, blocksize)] (fp32 max |x| per block, NaN ignored).
// Ties between two codes go to the lower code value (torch.bucketize on midpoints); NaN gets the code of -1.
void quantize_4bit_ref(const float* x, int64_t n, int64_t blocksize, Quant4Type type, uint8_t* packed,
                       float* absmax);
void quantize_4bit(const float* x, int64_t n, int64_t blocksize, Quant4Type type, uint8_t* packed, float* absmax);

// out[i] = code[nibble i] * absmax[i / blocksize].
void dequantize_4bit_ref(const uint8_t* packed, const float* absmax, int64_t n, int64_t blocksize, Quant4Type type,
                         float* out);
void dequantize_4bit(const uint8_t* packed, const float* absmax, int64_t n, int64_t blocksize, Quant4Type type,
                     float* out);
const char* dequantize_4bit_isa();  // same as quant_codecs_isa()

// Blockwise 8-bit quantization against a sorted 256-entry code (bitsandbytes quantize_blockwise, CPU library):
// absmax per block (NaN ignored); an all-zero block gives codes 0; otherwise x * (1 / absmax) is rounded to
// one of 65536 bins of [-1, 1] and each bin has its nearest code, as bitsandbytes' lookup table does (a NaN
// element takes bin 0's code).
void quantize_blockwise_8bit_ref(const float* x, int64_t n, int64_t blocksize, const float* code, uint8_t* q,
                                 float* absmax);
void quantize_blockwise_8bit(const float* x, int64_t n, int64_t blocksize, const float* code, uint8_t* q,
                             float* absmax);
// out[i] = code[q[i]] * absmax[i / blocksize].
void dequantize_blockwise_8bit_ref(const uint8_t* q, const float* absmax, int64_t n, int64_t blocksize,
                                   const float* code, float* out);
void dequantize_blockwise_8bit(const uint8_t* q, const float* absmax, int64_t n, int64_t blocksize, const float* code,
                               float* out);

// torch.mean of a contiguous fp32 vector as torch's CPU sum kernel computes it (cascade sum, 8-lane vectors,
// 4-way ILP), then / n. Bit-exact with torch for n < 32768 (above that torch splits the sum across threads).
float torch_mean_f32(const float* x, int64_t n);

// Double quantization of fp32 block scales: offset = mean(absmax), codes = quantize_blockwise_8bit(absmax -
// offset, nested_blocksize, dynamic_map_signed()), one fp32 nested_absmax per nested block.
struct DoubleQuantScales {
  std::vector<uint8_t> codes;         // [num_scales]
  std::vector<float> nested_absmax;   // [ceil(num_scales / nested_blocksize)]
  float offset = 0.0f;
  int64_t nested_blocksize = 256;
};
DoubleQuantScales double_quantize_scales(const float* absmax, int64_t num_scales, int64_t nested_blocksize = 256);
// absmax[i] = code[codes[i]] * nested_absmax[i / nested_blocksize] + offset (two fp32 roundings, as bnb).
void double_dequantize_scales(const DoubleQuantScales& dq, float* absmax);

// Storage cost in bits per parameter of 4-bit weights with their scales (the offset, 4 bytes per tensor,
// is left out): 4 + 32/blocksize, or with double quant 4 + 8/blocksize + 32/(blocksize*nested_blocksize).
double quant4_bits_per_param(int64_t blocksize, bool double_quant, int64_t nested_blocksize = 256);

}  // namespace frugal
