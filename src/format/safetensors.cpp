#include "format/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "core/byte_reader.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "quant/ggml_types.h"

namespace frugal {

namespace {

using Json = nlohmann::json;

// The reference library refuses larger headers; so do we, before trusting the length for anything.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DtypeInfo {
  SafeDtype dtype;
  const char* name;
  size_t size;
};

constexpr DtypeInfo kDtypes[] = {
    {SafeDtype::BOOL, "BOOL", 1},
    {SafeDtype::U8, "U8", 1},
    {SafeDtype::I8, "I8", 1},
    {SafeDtype::F8_E5M2, "F8_E5M2", 1},
    {SafeDtype::F8_E4M3, "F8_E4M3", 1},
    {SafeDtype::F8_E8M0, "F8_E8M0", 1},
    {SafeDtype::F8_E4M3FNUZ, "F8_E4M3FNUZ", 1},
    {SafeDtype::F8_E5M2FNUZ, "F8_E5M2FNUZ", 1},
    {SafeDtype::I16, "I16", 2},
    {SafeDtype::U16, "U16", 2},
    {SafeDtype::F16, "F16", 2},
    {SafeDtype::BF16, "BF16", 2},
    {SafeDtype::I32, "I32", 4},
    {SafeDtype::U32, "U32", 4},
    {SafeDtype::F32, "F32", 4},
    {SafeDtype::C64, "C64", 8},
    {SafeDtype::F64, "F64", 8},
    {SafeDtype::I64, "I64", 8},
    {SafeDtype::U64, "U64", 8},
};

const DtypeInfo& dtype_info(SafeDtype dtype) {
  for (const DtypeInfo& d : kDtypes)
    if (d.dtype == dtype) return d;
  fail("safetensors dtype " + std::to_string(static_cast<int>(dtype)) + " is not a SafeDtype");
}

std::string tensor_where(const std::string& name) {
  return "tensor '" + name + "'";
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// numel * elem_size, or nullopt when that does not fit in 64 bits.
std::optional<uint64_t> byte_count(const std::vector<int64_t>& shape, size_t elem_size) {
  uint64_t n = elem_size;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return std::nullopt;
  return n;
}

// ---- reading ----

// Parses the header, rejecting duplicate keys at any depth: nlohmann keeps the last of two equal keys
// silently, and two tensors with one name would make the file mean two different things.
Json parse_header(const std::string& path, const uint8_t* text, uint64_t size) {
  std::vector<std::set<std::string>> open_objects;
  auto on_event = [&](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      open_objects.pop_back();
    } else if (event == Json::parse_event_t::key) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second)
        fail(path, "header",
             open_objects.size() == 1 ? "two tensors named '" + key + "'" : "duplicate key '" + key + "'");
    }
    return true;
  };
  try {
    return Json::parse(text, text + size, on_event);
  } catch (const Json::exception& e) {
    const auto* pe = dynamic_cast<const Json::parse_error*>(&e);
    const uint64_t at = 8 + (pe && pe->byte > 0 ? pe->byte - 1 : 0);
    std::string what = e.what();
    if (size_t p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    fail(path, offset_str(at), "header is not valid JSON: " + what);
  }
}

uint64_t as_u64(const Json& v, const std::string& path, const std::string& where, const char* field) {
  if (!v.is_number_unsigned())
    fail(path, where, std::string(field) + " holds " + v.dump() + ", not a non-negative integer");
  return v.get<uint64_t>();
}

struct Entry {
  SafetensorsTensor tensor;
  uint64_t begin, end;  // relative to the data buffer
};

Entry parse_entry(const std::string& path, const std::string& name, const Json& info, uint64_t buffer_bytes) {
  const std::string where = tensor_where(name);
  if (!info.is_object()) fail(path, where, "entry is " + std::string(info.type_name()) + ", not an object");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!info.contains(field)) fail(path, where, std::string("missing \"") + field + "\"");

  const Json& jdtype = info["dtype"];
  if (!jdtype.is_string()) fail(path, where, "dtype is " + jdtype.dump() + ", not a string");
  const std::optional<SafeDtype> dtype = safe_dtype_from_name(jdtype.get_ref<const std::string&>());
  if (!dtype) fail(path, where, "unknown or unsupported dtype " + jdtype.dump());

  const Json& jshape = info["shape"];
  if (!jshape.is_array()) fail(path, where, "shape is " + jshape.dump() + ", not an array");
  std::vector<int64_t> shape;
  for (const Json& d : jshape) {
    const uint64_t dim = as_u64(d, path, where, "shape");
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(path, where, "shape " + jshape.dump() + " has an absurd dimension");
    shape.push_back(static_cast<int64_t>(dim));
  }

  const Json& joff = info["data_offsets"];
  if (!joff.is_array() || joff.size() != 2) fail(path, where, "data_offsets is " + joff.dump() + ", not [BEGIN, END]");
  const uint64_t begin = as_u64(joff[0], path, where, "data_offsets");
  const uint64_t end = as_u64(joff[1], path, where, "data_offsets");
  if (end < begin) fail(path, where, "data_offsets " + joff.dump() + " end before they begin");
  if (end > buffer_bytes)
    fail(path, where,
         "data_offsets " + joff.dump() + " run past the end of the " + std::to_string(buffer_bytes) +
             "-byte data buffer");

  const std::optional<uint64_t> nbytes = byte_count(shape, safe_dtype_size(*dtype));
  if (!nbytes) fail(path, where, "shape " + jshape.dump() + " overflows 64 bits");
  if (*nbytes != end - begin)
    fail(path, where,
         "shape " + jshape.dump() + " of " + safe_dtype_name(*dtype) + " needs " + std::to_string(*nbytes) +
             " bytes but data_offsets " + joff.dump() + " hold " + std::to_string(end - begin));

  return {SafetensorsTensor{name, *dtype, std::move(shape), nullptr, *nbytes, 0, path}, begin, end};
}

// The tensors must tile the buffer: sorted by offset, each starts where the previous one ended.
void check_tiling(const std::string& path, std::vector<Entry>& entries, uint64_t buffer_bytes) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.tensor.name) < std::tie(b.begin, b.end, b.tensor.name);
  });
  uint64_t covered = 0;
  const std::string* previous = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < covered)
      fail(path, tensor_where(e.tensor.name),
           "data at buffer bytes [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ") overlaps tensor '" +
               *previous + "'");
    if (e.begin > covered)
      fail(path, tensor_where(e.tensor.name),
           "buffer bytes [" + std::to_string(covered) + ", " + std::to_string(e.begin) +
               ") before it belong to no tensor");
    covered = e.end;
    previous = &e.tensor.name;
  }
  if (covered != buffer_bytes)
    fail(path, offset_str(covered),
         "the last " + std::to_string(buffer_bytes - covered) + " bytes of the data buffer belong to no tensor");
}

// ---- writing ----


}  // namespace

size_t safe_dtype_size(SafeDtype dtype) {
  return dtype_info(dtype).size;
}

const char* safe_dtype_name(SafeDtype dtype) {
  return dtype_info(dtype).name;
}

std::optional<SafeDtype> safe_dtype_from_name(std::string_view name) {
  for (const DtypeInfo& d : kDtypes)
    if (name == d.name) return d.dtype;
  return std::nullopt;
}

int64_t SafetensorsTensor::numel() const {
  // Unsigned: a shape like [2^62, 3, 0] is valid (0 elements) but its prefix product passes 2^63.
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return static_cast<int64_t>(n);  // <= nbytes, which the loader checked fits in the file
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path), file_(std::make_unique<MappedFile>(path)) {
  ByteReader reader(file_->data(), file_->size(), path);
  const uint64_t header_bytes = reader.read<uint64_t>("the 8-byte header length");
  if (header_bytes > kMaxHeaderBytes)
    fail(path, offset_str(0), "header length " + std::to_string(header_bytes) + " exceeds the 100,000,000-byte limit");
  if (header_bytes > file_->size() - 8)
    fail(path, offset_str(0),
         "header length " + std::to_string(header_bytes) + " is larger than the rest of the file (" +
             std::to_string(file_->size() - 8) + " bytes)");
  const uint8_t* header = reader.take(header_bytes, "the JSON header");
  const uint64_t buffer_start = 8 + header_bytes;
  const uint64_t buffer_bytes = file_->size() - buffer_start;

  const Json root = parse_header(path, header, header_bytes);
  if (!root.is_object())
    fail(path, offset_str(8), "header is a JSON " + std::string(root.type_name()) + ", not an object");

  std::vector<Entry> entries;
  for (const auto& [name, value] : root.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) fail(path, "__metadata__", "is " + value.dump() + ", not an object of strings");
      for (const auto& [key, v] : value.items()) {
        if (!v.is_string()) fail(path, "__metadata__", "value of '" + key + "' is " + v.dump() + ", not a string");
        metadata_.emplace(key, v.get<std::string>());
      }
      continue;
    }
    entries.push_back(parse_entry(path, name, value, buffer_bytes));
  }
  check_tiling(path, entries, buffer_bytes);

  tensors_.reserve(entries.size());
  for (Entry& e : entries) {
    e.tensor.file_offset = buffer_start + e.begin;
    e.tensor.data = file_->data() + e.tensor.file_offset;
    index_.emplace(e.tensor.name, tensors_.size());
    tensors_.push_back(std::move(e.tensor));
  }
}

SafetensorsFile::~SafetensorsFile() = default;
SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const SafetensorsTensor& SafetensorsFile::get(std::string_view name) const {
  const SafetensorsTensor* t = find(name);
  if (!t) fail(path_, tensor_where(std::string(name)), "no such tensor in the file");
  return *t;
}

void to_f32(const SafetensorsTensor& tensor, float* out) {
  const int64_t n = tensor.numel();
  switch (tensor.dtype) {
    case SafeDtype::F32:
      if (n > 0) std::memcpy(out, tensor.data, tensor.nbytes);
      return;
    case SafeDtype::F16:
      return dequantize_row(GgmlType::F16, tensor.data, out, n);
    case SafeDtype::BF16:
      return dequantize_row(GgmlType::BF16, tensor.data, out, n);
    default:
      fail(tensor.file, tensor_where(tensor.name),
           std::string("dtype ") + safe_dtype_name(tensor.dtype) + " is not F32, F16 or BF16");
  }
}

std::vector<float> to_f32(const SafetensorsTensor& tensor) {
  std::vector<float> out(static_cast<size_t>(tensor.numel()));
  to_f32(tensor, out.data());
  return out;
}

SafetensorsStreamWriter::SafetensorsStreamWriter(const std::string& path,
                                                 const std::vector<SafetensorsWriteTensor>& tensors,
                                                 const std::map<std::string, std::string>& metadata,
                                                 std::function<void(const void*, size_t)> observe)
    : path_(path), observe_(std::move(observe)) {
  std::vector<const SafetensorsWriteTensor*> order;
  std::set<std::string_view> names;
  for (const SafetensorsWriteTensor& t : tensors) {
    const std::string where = tensor_where(t.name);
    if (t.name == "__metadata__") fail(path, where, "the name is reserved for metadata");
    if (!names.insert(t.name).second) fail(path, where, "given twice");
    if (!byte_count(t.shape, safe_dtype_size(t.dtype)))
      fail(path, where, "shape " + shape_str(t.shape) + " is negative or overflows");
    order.push_back(&t);
  }
  // The reference writer's order: widest dtype first, so every tensor is aligned to its element size
  // within the (8-byte aligned) buffer; ties by name, compared as bytes.
  std::sort(order.begin(), order.end(), [](const SafetensorsWriteTensor* a, const SafetensorsWriteTensor* b) {
    if (a->dtype != b->dtype) return a->dtype > b->dtype;
    return a->name < b->name;
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const SafetensorsWriteTensor* t : order) {
    const uint64_t nbytes = *byte_count(t->shape, safe_dtype_size(t->dtype));
    nlohmann::ordered_json info = nlohmann::ordered_json::object();
    info["dtype"] = safe_dtype_name(t->dtype);
    info["shape"] = nlohmann::ordered_json::array();
    for (int64_t d : t->shape) info["shape"].push_back(d);
    info["data_offsets"] = {offset, offset + nbytes};
    offset += nbytes;
    header[t->name] = std::move(info);
    order_.push_back(t->name);
  }
  data_bytes_ = offset;
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    fail(path, "header", std::string("a tensor name or metadata string is not valid UTF-8: ") + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data buffer 8-byte aligned in the file

  out_ = std::make_unique<AtomicFileWriter>(path);
  const uint64_t header_bytes = text.size();
  put(&header_bytes, 8);  // x86-64 is little-endian, as the format requires
  put(text.data(), text.size());
  header_end_ = out_->written();
}

SafetensorsStreamWriter::~SafetensorsStreamWriter() = default;

void SafetensorsStreamWriter::put(const void* data, size_t n) {
  out_->write(data, n);
  if (observe_) observe_(data, n);
}

void SafetensorsStreamWriter::append(std::span<const uint8_t> bytes) {
  if (out_->written() - header_end_ + bytes.size() > data_bytes_)
    fail(path_, "", "internal: more tensor data than the header announced");
  put(bytes.data(), bytes.size());
}

void SafetensorsStreamWriter::commit() {
  if (out_->written() - header_end_ != data_bytes_)
    fail(path_, "", "internal: " + std::to_string(out_->written() - header_end_) + " bytes of tensor data given, the header announced " +
                        std::to_string(data_bytes_));
  out_->commit();
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsWriteTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  for (const SafetensorsWriteTensor& t : tensors) {
    const std::optional<uint64_t> nbytes = byte_count(t.shape, safe_dtype_size(t.dtype));
    if (nbytes && *nbytes != t.bytes.size())
      fail(path, tensor_where(t.name),
           "shape " + shape_str(t.shape) + " of " + safe_dtype_name(t.dtype) + " needs " + std::to_string(*nbytes) +
               " bytes, given " + std::to_string(t.bytes.size()));
  }
  SafetensorsStreamWriter out(path, tensors, metadata);
  for (const std::string& name : out.order())
    for (const SafetensorsWriteTensor& t : tensors)
      if (t.name == name) out.append(t.bytes);
  out.commit();
}

}  // namespace frugal
