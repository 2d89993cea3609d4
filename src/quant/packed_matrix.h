// Frozen base weights held compactly other than bitsandbytes' 4 bits (Quant4Matrix): LLM.int8's
// rows of int8 (load_in_8bit), or a GGUF file's own blocks (Q4_K, Q8_0, F16, ...) kept as stored so
// a quantized GGUF base is trained on without re-quantizing it. Like the 4-bit matrices they are
// dequantized one matrix at a time right before a product, never for the whole model.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "quant/ggml_types.h"
#include "quant/int8_rowwise.h"
#include "quant/int_dot_matrix.h"

namespace frugal {

// Rows of 16-bit floats as a GGUF file stores them (F16 or BF16): products convert them on the fly,
// exactly (both formats embed in fp32), reading 2 bytes per weight instead of a 4-byte fp32 copy.
struct HalfRows {
  bool bf16 = false;                 // false: IEEE half (F16)
  const uint16_t* values = nullptr;  // rows x cols, row-major [out, in]
  int64_t rows = 0, cols = 0;
};

class PackedMatrix {
 public:
  virtual ~PackedMatrix() = default;
  virtual void dequantize(float* out) const = 0;  // all rows x cols values, row-major [out, in]
  virtual int64_t bytes() const = 0;              // resident bytes of codes and scales
  virtual std::string type_name() const = 0;      // "int8 (per row)", "Q4_K", ...
  // The int8 rows themselves, for writers of bitsandbytes' 8-bit format; nullptr for other types.
  virtual const Int8RowwiseMatrix* int8_rows() const { return nullptr; }
  // One row's values (an embedding lookup reads single rows of a compact table).
  virtual void dequantize_row(int64_t row, float* out) const = 0;
  // The same values laid out for the decode kernels (integer dot products, or 16-bit rows read as
  // stored), or nullptr when this type has no such layout; int_dot() / half_rows() is that layout
  // when this matrix already is one.
  virtual std::shared_ptr<const PackedMatrix> for_int_dot() const { return nullptr; }
  virtual const IntDotMatrix* int_dot() const { return nullptr; }
  // The 16-bit values themselves when this matrix is F16 or BF16 rows; nullptr otherwise.
  virtual const HalfRows* half_rows() const { return nullptr; }
};

// `what` names the matrix in errors (a value float16 cannot hold).
std::shared_ptr<const PackedMatrix> pack_int8_rowwise(const float* data, int64_t rows, int64_t cols,
                                                      const std::string& what = "int8 matrix");
// Rows already in int8 (read from a checkpoint), taken over.
std::shared_ptr<const PackedMatrix> pack_int8_rows(Int8RowwiseMatrix rows);

// `rows` rows of `cols` values in ggml `type`, ggml_row_bytes(type, cols) bytes each, taken over.
std::shared_ptr<const PackedMatrix> pack_ggml_rows(GgmlType type, std::vector<uint8_t> blocks, int64_t rows,
                                                   int64_t cols);

// F16 or BF16 rows as stored, offered to the decode kernels (half_rows()); a base kept as stored for
// training uses pack_ggml_rows, whose products equal the dequantized matrix's exactly. Taken over.
std::shared_ptr<const PackedMatrix> pack_half_rows_for_decoding(GgmlType type, std::vector<uint8_t> blocks,
                                                                int64_t rows, int64_t cols);

// A matrix already in the decoding layout, taken over.
std::shared_ptr<const PackedMatrix> pack_int_dot(IntDotMatrix m);

}  // namespace frugal
