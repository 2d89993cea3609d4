#include "format/gguf_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/half.h"

namespace frugal {

// ---- metadata values ----

namespace {
GgufValue int_value(GgufValueType t, int64_t v) {
  GgufValue g;
  g.type = t;
  g.integer = v;
  return g;
}
GgufValue real_value(GgufValueType t, double v) {
  GgufValue g;
  g.type = t;
  g.real = v;
  return g;
}
}  // namespace

GgufValue gguf_value_u8(uint8_t v) { return int_value(GgufValueType::UINT8, v); }
GgufValue gguf_value_i8(int8_t v) { return int_value(GgufValueType::INT8, v); }
GgufValue gguf_value_u16(uint16_t v) { return int_value(GgufValueType::UINT16, v); }
GgufValue gguf_value_i16(int16_t v) { return int_value(GgufValueType::INT16, v); }
GgufValue gguf_value_u32(uint32_t v) { return int_value(GgufValueType::UINT32, v); }
GgufValue gguf_value_i32(int32_t v) { return int_value(GgufValueType::INT32, v); }
GgufValue gguf_value_u64(uint64_t v) {
  if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    fail("GGUF metadata: uint64 value " + std::to_string(v) + " is beyond what readers accept");
  return int_value(GgufValueType::UINT64, static_cast<int64_t>(v));
}
GgufValue gguf_value_i64(int64_t v) { return int_value(GgufValueType::INT64, v); }
GgufValue gguf_value_f32(float v) { return real_value(GgufValueType::FLOAT32, v); }
GgufValue gguf_value_f64(double v) { return real_value(GgufValueType::FLOAT64, v); }
GgufValue gguf_value_bool(bool v) { return int_value(GgufValueType::BOOL, v ? 1 : 0); }
GgufValue gguf_value_string(std::string v) {
  GgufValue g;
  g.type = GgufValueType::STRING;
  g.string = std::move(v);
  return g;
}
GgufValue gguf_value_array(GgufValueType element_type, std::vector<GgufValue> elements) {
  GgufValue g;
  g.type = GgufValueType::ARRAY;
  g.element_type = element_type;
  g.array = std::move(elements);
  return g;
}
GgufValue gguf_value_string_array(const std::vector<std::string>& v) {
  std::vector<GgufValue> e;
  e.reserve(v.size());
  for (const std::string& s : v) e.push_back(gguf_value_string(s));
  return gguf_value_array(GgufValueType::STRING, std::move(e));
}
GgufValue gguf_value_f32_array(std::span<const float> v) {
  std::vector<GgufValue> e;
  e.reserve(v.size());
  for (float f : v) e.push_back(gguf_value_f32(f));
  return gguf_value_array(GgufValueType::FLOAT32, std::move(e));
}
GgufValue gguf_value_i32_array(std::span<const int32_t> v) {
  std::vector<GgufValue> e;
  e.reserve(v.size());
  for (int32_t i : v) e.push_back(gguf_value_i32(i));
  return gguf_value_array(GgufValueType::INT32, std::move(e));
}

// ---- serialization ----

namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" as a little-endian u32
constexpr uint32_t kVersion = 3;
constexpr size_t kMaxTensorName = 63;        // GGML_MAX_NAME - 1
constexpr int kMaxArrayDepth = 4;            // what our reader accepts

struct Bytes {
  std::vector<uint8_t> b;
  template <typename T>
  void put(T v) {  // x86-64 is little-endian, as GGUF is
    append(&v, sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    append(s.data(), s.size());
  }
  void append(const void* p, size_t n) {
    const size_t at = b.size();
    b.resize(at + n);
    if (n) std::memcpy(b.data() + at, p, n);
  }
};

void check_range(const GgufValue& v, int64_t lo, int64_t hi, const std::string& path, const std::string& key) {
  if (v.integer < lo || v.integer > hi)
    fail(path, "key " + key, "value " + std::to_string(v.integer) + " does not fit its type");
}

void put_value(Bytes& out, const GgufValue& v, int depth, const std::string& path, const std::string& key) {
  switch (v.type) {
    case GgufValueType::UINT8: check_range(v, 0, 255, path, key); out.put<uint8_t>(static_cast<uint8_t>(v.integer)); break;
    case GgufValueType::INT8: check_range(v, -128, 127, path, key); out.put<int8_t>(static_cast<int8_t>(v.integer)); break;
    case GgufValueType::UINT16:
      check_range(v, 0, 65535, path, key);
      out.put<uint16_t>(static_cast<uint16_t>(v.integer));
      break;
    case GgufValueType::INT16:
      check_range(v, -32768, 32767, path, key);
      out.put<int16_t>(static_cast<int16_t>(v.integer));
      break;
    case GgufValueType::UINT32:
      check_range(v, 0, std::numeric_limits<uint32_t>::max(), path, key);
      out.put<uint32_t>(static_cast<uint32_t>(v.integer));
      break;
    case GgufValueType::INT32:
      check_range(v, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(), path, key);
      out.put<int32_t>(static_cast<int32_t>(v.integer));
      break;
    case GgufValueType::UINT64:
      check_range(v, 0, std::numeric_limits<int64_t>::max(), path, key);
      out.put<uint64_t>(static_cast<uint64_t>(v.integer));
      break;
    case GgufValueType::INT64: out.put<int64_t>(v.integer); break;
    case GgufValueType::FLOAT32: out.put<float>(static_cast<float>(v.real)); break;
    case GgufValueType::FLOAT64: out.put<double>(v.real); break;
    case GgufValueType::BOOL: check_range(v, 0, 1, path, key); out.put<uint8_t>(static_cast<uint8_t>(v.integer)); break;
    case GgufValueType::STRING: out.put_string(v.string); break;
    case GgufValueType::ARRAY:
      if (depth >= kMaxArrayDepth) fail(path, "key " + key, "arrays nested too deep");
      out.put<uint32_t>(static_cast<uint32_t>(v.element_type));
      out.put<uint64_t>(v.array.size());
      for (const GgufValue& e : v.array) {
        if (e.type != v.element_type) fail(path, "key " + key, "array elements must all have the array's element type");
        put_value(out, e, depth + 1, path, key);
      }
      break;
    default: fail(path, "key " + key, "unknown value type " + std::to_string(static_cast<uint32_t>(v.type)));
  }
}

bool is_float_type(GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16; }

// Encodes `rows` rows of `row_len` fp32 values as `type` into `dst`.
void encode_rows(GgmlType type, const float* src, uint8_t* dst, int64_t rows, int64_t row_len) {
  const int64_t n = rows * row_len;
  switch (type) {
    case GgmlType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); break;
    case GgmlType::F16: {
      auto* d = reinterpret_cast<uint16_t*>(dst);
#pragma omp parallel for schedule(static) if (n > (1 << 16))
      for (int64_t i = 0; i < n; ++i) d[i] = float_to_fp16(src[i]);
      break;
    }
    case GgmlType::BF16: {
      auto* d = reinterpret_cast<uint16_t*>(dst);
#pragma omp parallel for schedule(static) if (n > (1 << 16))
      for (int64_t i = 0; i < n; ++i) d[i] = float_to_bf16(src[i]);
      break;
    }
    case GgmlType::Q8_0: {
      const uint64_t row_bytes = ggml_row_bytes(type, row_len);
#pragma omp parallel for schedule(static) if (n > (1 << 16))
      for (int64_t r = 0; r < rows; ++r) quantize_row_q8_0(src + r * row_len, dst + r * row_bytes, row_len);
      break;
    }
    default: fail("internal: no encoder for " + ggml_type_name(static_cast<uint32_t>(type)));
  }
}

}  // namespace

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
  if (alignment == 0 || alignment % 8 != 0 || alignment > (1u << 20))
    fail("GGUF writer: alignment " + std::to_string(alignment) + " must be a positive multiple of 8");
  if (alignment != 32) set("general.alignment", gguf_value_u32(alignment));
}

void GgufWriter::set(const std::string& key, GgufValue value) {
  if (key.empty()) fail("GGUF writer: empty metadata key");
  if (key == "general.alignment" && (!value.is_integer() || value.integer != alignment_))
    fail("GGUF writer: general.alignment is set by the constructor's alignment");
  for (auto& [k, v] : metadata_)
    if (k == key) {
      v = std::move(value);
      return;
    }
  metadata_.emplace_back(key, std::move(value));
}

bool GgufWriter::has(const std::string& key) const {
  return std::any_of(metadata_.begin(), metadata_.end(), [&](const auto& kv) { return kv.first == key; });
}

void GgufWriter::check_new_tensor(const std::string& name, const std::vector<int64_t>& shape, GgmlType type,
                                  int64_t& rows, int64_t& row_len) const {
  const std::string where = "tensor " + name;
  if (name.empty() || name.size() > kMaxTensorName)
    fail("GGUF writer", where, "name is empty or longer than 63 bytes (ggml's limit)");
  for (const Tensor& t : tensors_)
    if (t.name == name) fail("GGUF writer", where, "added twice");
  if (shape.empty() || shape.size() > 4) fail("GGUF writer", where, "needs 1 to 4 dimensions");
  rows = 1;
  for (int64_t d : shape) {
    if (d <= 0) fail("GGUF writer", where, "dimensions must be positive");
    rows *= d;
  }
  row_len = shape.back();
  rows /= row_len;
  if (!ggml_type_supported(static_cast<uint32_t>(type)))
    fail("GGUF writer", where, "type " + ggml_type_name(static_cast<uint32_t>(type)) + " is not supported");
  if (row_len % ggml_block_elems(type) != 0)
    fail("GGUF writer", where,
         "row length " + std::to_string(row_len) + " is not a multiple of the " +
             ggml_type_name(static_cast<uint32_t>(type)) + " block size " + std::to_string(ggml_block_elems(type)));
}

void GgufWriter::add_tensor(const std::string& name, std::vector<int64_t> shape, GgmlType type,
                            std::span<const float> values) {
  int64_t rows = 0, row_len = 0;
  check_new_tensor(name, shape, type, rows, row_len);
  if (!is_float_type(type) && type != GgmlType::Q8_0)
    fail("GGUF writer", "tensor " + name, "cannot encode " + ggml_type_name(static_cast<uint32_t>(type)) +
                                              " (F32, F16, BF16 and Q8_0 can be written from fp32 values)");
  if (values.size() != static_cast<size_t>(rows * row_len))
    fail("GGUF writer", "tensor " + name,
         std::to_string(values.size()) + " values for a shape of " + std::to_string(rows * row_len) + " elements");
  Tensor t;
  t.name = name;
  t.shape = std::move(shape);
  t.type = type;
  t.values = values;
  t.nbytes = ggml_row_bytes(type, row_len) * static_cast<uint64_t>(rows);
  tensors_.push_back(std::move(t));
}

void GgufWriter::add_generated_tensor(const std::string& name, std::vector<int64_t> shape, GgmlType type,
                                      RowFiller fill) {
  int64_t rows = 0, row_len = 0;
  check_new_tensor(name, shape, type, rows, row_len);
  if (!is_float_type(type) && type != GgmlType::Q8_0)
    fail("GGUF writer", "tensor " + name, "cannot encode " + ggml_type_name(static_cast<uint32_t>(type)) +
                                              " (F32, F16, BF16 and Q8_0 can be written from fp32 values)");
  if (!fill) fail("GGUF writer", "tensor " + name, "no row filler given");
  Tensor t;
  t.name = name;
  t.shape = std::move(shape);
  t.type = type;
  t.fill = std::move(fill);
  t.nbytes = ggml_row_bytes(type, row_len) * static_cast<uint64_t>(rows);
  tensors_.push_back(std::move(t));
}

void GgufWriter::add_tensor(const std::string& name, std::vector<int64_t> shape, GgmlType type,
                            std::vector<float>&& values) {
  auto owned = std::make_shared<std::vector<float>>(std::move(values));
  add_tensor(name, std::move(shape), type, std::span<const float>(*owned));
  tensors_.back().owned = std::move(owned);
}

void GgufWriter::add_encoded_tensor(const std::string& name, std::vector<int64_t> shape, GgmlType type,
                                    std::span<const uint8_t> bytes) {
  int64_t rows = 0, row_len = 0;
  check_new_tensor(name, shape, type, rows, row_len);
  const uint64_t nbytes = ggml_row_bytes(type, row_len) * static_cast<uint64_t>(rows);
  if (bytes.size() != nbytes)
    fail("GGUF writer", "tensor " + name,
         std::to_string(bytes.size()) + " bytes given, the shape needs " + std::to_string(nbytes));
  Tensor t;
  t.name = name;
  t.shape = std::move(shape);
  t.type = type;
  t.encoded = bytes;
  t.pre_encoded = true;
  t.nbytes = nbytes;
  tensors_.push_back(std::move(t));
}

void GgufWriter::write(const std::string& path) const {
  Bytes head;
  head.put<uint32_t>(kGgufMagic);
  head.put<uint32_t>(kVersion);
  head.put<uint64_t>(tensors_.size());
  head.put<uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_) {
    head.put_string(key);
    head.put<uint32_t>(static_cast<uint32_t>(value.type));
    put_value(head, value, 0, path, key);
  }
  const auto padded = [&](uint64_t n) { return (n + alignment_ - 1) / alignment_ * alignment_; };
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    head.put_string(t.name);
    head.put<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (auto d = t.shape.rbegin(); d != t.shape.rend(); ++d) head.put<uint64_t>(static_cast<uint64_t>(*d));
    head.put<uint32_t>(static_cast<uint32_t>(t.type));
    head.put<uint64_t>(offset);
    offset += padded(t.nbytes);
  }
  head.b.resize(padded(head.b.size()), 0);

  AtomicFileWriter out(path);
  out.write(head.b.data(), head.b.size());
  const std::vector<uint8_t> zeros(alignment_, 0);
  std::vector<uint8_t> buffer;
  std::vector<float> generated;
  for (const Tensor& t : tensors_) {
    if (t.pre_encoded) {
      out.write(t.encoded.data(), t.encoded.size());
    } else {
      // Encode a bounded number of rows at a time, so a large tensor never needs a second full copy
      // (and a generated one never exists whole).
      const int64_t row_len = t.shape.back();
      int64_t rows = 1;
      for (int64_t d : t.shape) rows *= d;
      rows /= row_len;
      const uint64_t row_bytes = ggml_row_bytes(t.type, row_len);
      const int64_t chunk_rows = std::max<int64_t>(1, (int64_t{1} << 22) / row_len);
      buffer.resize(static_cast<size_t>(std::min(rows, chunk_rows) * row_bytes));
      if (t.fill) generated.resize(static_cast<size_t>(std::min(rows, chunk_rows) * row_len));
      for (int64_t r = 0; r < rows; r += chunk_rows) {
        const int64_t n = std::min(chunk_rows, rows - r);
        const float* src = t.values.data() + r * row_len;
        if (t.fill) {
          t.fill(r, n, generated.data());
          src = generated.data();
        }
        encode_rows(t.type, src, buffer.data(), n, row_len);
        out.write(buffer.data(), static_cast<size_t>(n * row_bytes));
      }
    }
    out.write(zeros.data(), padded(t.nbytes) - t.nbytes);
  }
  out.commit();
}

}  // namespace frugal
