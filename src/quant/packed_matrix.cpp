#include "quant/packed_matrix.h"

#include <cstring>

#include "core/error.h"

namespace frugal {

namespace {

class Int8Rows final : public PackedMatrix {
 public:
  explicit Int8Rows(Int8RowwiseMatrix m) : m_(std::move(m)) {}
  void dequantize(float* out) const override { m_.dequantize(out); }
  int64_t bytes() const override { return m_.bytes(); }
  std::string type_name() const override { return "int8 (per row)"; }
  const Int8RowwiseMatrix* int8_rows() const override { return &m_; }
  void dequantize_row(int64_t row, float* out) const override {
    dequantize_row_int8(&m_.codes[static_cast<size_t>(row * m_.cols)], m_.absmax[row], m_.cols, out);
  }

 private:
  Int8RowwiseMatrix m_;
};

class GgmlRows final : public PackedMatrix {
 public:
  // `for_decoding`: 16-bit rows offer themselves to the decode kernels (half_rows()). Off for a base
  // kept as stored for training, whose products must equal the dequantized matrix's bit for bit.
  GgmlRows(GgmlType type, std::vector<uint8_t> blocks, int64_t rows, int64_t cols, bool for_decoding = false)
      : type_(type), rows_(rows), cols_(cols), row_bytes_(ggml_row_bytes(type, cols)), blocks_(std::move(blocks)) {
    if (blocks_.size() != row_bytes_ * static_cast<uint64_t>(rows))
      fail(ggml_type_name(static_cast<uint32_t>(type)) + " matrix", "", "block bytes do not match its shape");
    if (for_decoding && is_half())  // a vector's storage is aligned for uint16_t
      half_ = {type == GgmlType::BF16, reinterpret_cast<const uint16_t*>(blocks_.data()), rows, cols};
  }
  void dequantize(float* out) const override {
#pragma omp parallel for if (rows_ > 64)
    for (int64_t r = 0; r < rows_; ++r)
      frugal::dequantize_row(type_, blocks_.data() + static_cast<uint64_t>(r) * row_bytes_, out + r * cols_, cols_);
  }
  int64_t bytes() const override { return static_cast<int64_t>(blocks_.size()); }
  std::string type_name() const override { return ggml_type_name(static_cast<uint32_t>(type_)); }
  void dequantize_row(int64_t row, float* out) const override {
    frugal::dequantize_row(type_, blocks_.data() + static_cast<uint64_t>(row) * row_bytes_, out, cols_);
  }
  std::shared_ptr<const PackedMatrix> for_int_dot() const override {
    if (is_half() && !half_.values) return std::make_shared<GgmlRows>(type_, blocks_, rows_, cols_, true);
    if (!int_dot_supports(type_)) return nullptr;
    return pack_int_dot(int_dot_from_ggml(type_, blocks_.data(), rows_, cols_));
  }
  const HalfRows* half_rows() const override { return half_.values ? &half_ : nullptr; }

 private:
  bool is_half() const { return type_ == GgmlType::F16 || type_ == GgmlType::BF16; }

  HalfRows half_;
  GgmlType type_;
  int64_t rows_, cols_;
  uint64_t row_bytes_;
  std::vector<uint8_t> blocks_;
};

class IntDotRows final : public PackedMatrix {
 public:
  explicit IntDotRows(IntDotMatrix m) : m_(std::move(m)) {}
  void dequantize(float* out) const override {
#pragma omp parallel for if (m_.rows > 64)
    for (int64_t r = 0; r < m_.rows; ++r) m_.dequantize_row(r, out + r * m_.cols);
  }
  int64_t bytes() const override { return m_.bytes(); }
  std::string type_name() const override { return m_.source + " (repacked for integer dot products)"; }
  void dequantize_row(int64_t row, float* out) const override { m_.dequantize_row(row, out); }
  const IntDotMatrix* int_dot() const override { return &m_; }

 private:
  IntDotMatrix m_;
};

}  // namespace

std::shared_ptr<const PackedMatrix> pack_int_dot(IntDotMatrix m) {
  return std::make_shared<IntDotRows>(std::move(m));
}

std::shared_ptr<const PackedMatrix> pack_int8_rowwise(const float* data, int64_t rows, int64_t cols,
                                                      const std::string& what) {
  return std::make_shared<Int8Rows>(quantize_matrix_int8_rowwise(data, rows, cols, what));
}

std::shared_ptr<const PackedMatrix> pack_int8_rows(Int8RowwiseMatrix rows) {
  if (rows.codes.size() != static_cast<size_t>(rows.rows * rows.cols) || rows.absmax.size() != static_cast<size_t>(rows.rows))
    fail("int8 matrix", "", "codes or absmax do not match its shape");
  return std::make_shared<Int8Rows>(std::move(rows));
}

std::shared_ptr<const PackedMatrix> pack_ggml_rows(GgmlType type, std::vector<uint8_t> blocks, int64_t rows,
                                                   int64_t cols) {
  return std::make_shared<GgmlRows>(type, std::move(blocks), rows, cols);
}

std::shared_ptr<const PackedMatrix> pack_half_rows_for_decoding(GgmlType type, std::vector<uint8_t> blocks,
                                                                int64_t rows, int64_t cols) {
  if (type != GgmlType::F16 && type != GgmlType::BF16)
    fail(ggml_type_name(static_cast<uint32_t>(type)) + " matrix", "", "is not 16-bit floats");
  return std::make_shared<GgmlRows>(type, std::move(blocks), rows, cols, true);
}

}  // namespace frugal
