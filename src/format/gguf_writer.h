// GGUF v3 writer: metadata of every value type, tensors in F32 / F16 / BF16 / Q8_0, laid out the way
// ggml's reader requires (ECOSYSTEM.md §3c): tensor infos in order, data offsets sequential, every
// tensor padded to the alignment. Files are written through `path.tmp`, fsync and rename, so a crash
// never leaves a half-written file under the real name. GgufFile reads back everything written here.
#pragma once
#include "core/atomic_file.h"
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "format/gguf.h"
#include "quant/ggml_types.h"

namespace frugal {



// Metadata values, built with the reader's own value type so a read value can be written back as is.
GgufValue gguf_value_u8(uint8_t v);
GgufValue gguf_value_i8(int8_t v);
GgufValue gguf_value_u16(uint16_t v);
GgufValue gguf_value_i16(int16_t v);
GgufValue gguf_value_u32(uint32_t v);
GgufValue gguf_value_i32(int32_t v);
GgufValue gguf_value_u64(uint64_t v);  // values above INT64_MAX are refused (the reader refuses them too)
GgufValue gguf_value_i64(int64_t v);
GgufValue gguf_value_f32(float v);
GgufValue gguf_value_f64(double v);
GgufValue gguf_value_bool(bool v);
GgufValue gguf_value_string(std::string v);
// An array of values that all have `element_type` (may itself be ARRAY, for nested arrays).
GgufValue gguf_value_array(GgufValueType element_type, std::vector<GgufValue> elements);
GgufValue gguf_value_string_array(const std::vector<std::string>& v);
GgufValue gguf_value_f32_array(std::span<const float> v);
GgufValue gguf_value_i32_array(std::span<const int32_t> v);

class GgufWriter {
 public:
  // `alignment` must be a positive multiple of 8; a value other than 32 (the format's default) is
  // also recorded as general.alignment, which readers need to find the data.
  explicit GgufWriter(uint32_t alignment = 32);

  // Metadata in the order given; setting a key twice replaces the value in place.
  void set(const std::string& key, GgufValue value);
  void set_string(const std::string& key, std::string v) { set(key, gguf_value_string(std::move(v))); }
  void set_u32(const std::string& key, uint32_t v) { set(key, gguf_value_u32(v)); }
  void set_i32(const std::string& key, int32_t v) { set(key, gguf_value_i32(v)); }
  void set_f32(const std::string& key, float v) { set(key, gguf_value_f32(v)); }
  void set_bool(const std::string& key, bool v) { set(key, gguf_value_bool(v)); }
  bool has(const std::string& key) const;

  // A tensor from fp32 values, encoded as `type` while writing. `shape` is the row-major (numpy) shape,
  // e.g. [rows, cols]; the file stores it reversed (ggml ne[0] = cols). The span must stay valid until
  // write() (no copy is made, so exporting a model does not double its memory); the vector overload
  // takes ownership instead. Q8_0 needs the row length (last dimension) to be a multiple of 32.
  void add_tensor(const std::string& name, std::vector<int64_t> shape, GgmlType type, std::span<const float> values);
  void add_tensor(const std::string& name, std::vector<int64_t> shape, GgmlType type, std::vector<float>&& values);
  // A tensor whose fp32 values are produced while writing, a bounded number of rows at a time:
  // `fill(first_row, n_rows, out)` writes rows [first_row, first_row + n_rows) of the row-major
  // shape into `out`. Nothing of it is held before or after, so a model can be generated straight
  // into a file larger than memory. Same types as add_tensor.
  using RowFiller = std::function<void(int64_t first_row, int64_t n_rows, float* out)>;
  void add_generated_tensor(const std::string& name, std::vector<int64_t> shape, GgmlType type, RowFiller fill);
  // Bytes already encoded as `type` (any type the reader supports), written unchanged.
  void add_encoded_tensor(const std::string& name, std::vector<int64_t> shape, GgmlType type,
                          std::span<const uint8_t> bytes);

  size_t tensor_count() const { return tensors_.size(); }
  // Writes the file atomically; fails naming the file (and tensor) on any problem.
  void write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    GgmlType type;
    std::span<const float> values;              // source of an encoded-on-write tensor
    RowFiller fill;                             // source of a generated tensor (values is empty then)
    std::shared_ptr<std::vector<float>> owned;  // keeps owned values alive
    std::span<const uint8_t> encoded;           // source of a pre-encoded tensor
    bool pre_encoded = false;
    uint64_t nbytes = 0;
  };
  void check_new_tensor(const std::string& name, const std::vector<int64_t>& shape, GgmlType type, int64_t& rows,
                        int64_t& row_len) const;

  uint32_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace frugal
