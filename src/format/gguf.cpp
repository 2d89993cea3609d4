#include "format/gguf.h"

#include <limits>

#include "core/byte_reader.h"
#include "core/error.h"

namespace frugal {

namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr uint64_t kMaxStringBytes = 1ull << 30;
constexpr int kMaxArrayDepth = 4;
constexpr uint32_t kMaxDims = 4;      // GGML_MAX_DIMS
constexpr size_t kMaxTensorName = 63; // GGML_MAX_NAME - 1

std::string read_string(ByteReader& r, const char* what) {
  uint64_t n = r.read<uint64_t>(what);
  if (n > kMaxStringBytes) fail(r.path(), offset_str(r.pos() - 8), std::string("absurd string length in ") + what);
  const uint8_t* p = r.take(n, what);
  return std::string(reinterpret_cast<const char*>(p), n);
}

size_t scalar_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16: case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32: case GgufValueType::INT32: case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64: case GgufValueType::INT64: case GgufValueType::FLOAT64: return 8;
    default: return 0;
  }
}

GgufValue read_value(ByteReader& r, GgufValueType type, int depth, const std::string& key) {
  GgufValue v;
  v.type = type;
  const size_t at = r.pos();
  switch (type) {
    case GgufValueType::UINT8: v.integer = r.read<uint8_t>("metadata value"); break;
    case GgufValueType::INT8: v.integer = r.read<int8_t>("metadata value"); break;
    case GgufValueType::UINT16: v.integer = r.read<uint16_t>("metadata value"); break;
    case GgufValueType::INT16: v.integer = r.read<int16_t>("metadata value"); break;
    case GgufValueType::UINT32: v.integer = r.read<uint32_t>("metadata value"); break;
    case GgufValueType::INT32: v.integer = r.read<int32_t>("metadata value"); break;
    case GgufValueType::INT64: v.integer = r.read<int64_t>("metadata value"); break;
    case GgufValueType::UINT64: {
      uint64_t u = r.read<uint64_t>("metadata value");
      // Token ids such as 4294967295 ("none") fit; only values beyond int64 are refused.
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail(r.path(), "key " + key, "uint64 value too large");
      v.integer = static_cast<int64_t>(u);
      break;
    }
    case GgufValueType::FLOAT32: v.real = r.read<float>("metadata value"); break;
    case GgufValueType::FLOAT64: v.real = r.read<double>("metadata value"); break;
    case GgufValueType::BOOL: {
      uint8_t b = r.read<uint8_t>("metadata value");
      if (b > 1) fail(r.path(), offset_str(at), "key " + key + ": bool value " + std::to_string(b) + " is not 0 or 1");
      v.integer = b;
      break;
    }
    case GgufValueType::STRING: v.string = read_string(r, "metadata string"); break;
    case GgufValueType::ARRAY: {
      if (depth >= kMaxArrayDepth) fail(r.path(), offset_str(at), "key " + key + ": arrays nested too deep");
      uint32_t et = r.read<uint32_t>("array element type");
      if (et > static_cast<uint32_t>(GgufValueType::FLOAT64))
        fail(r.path(), offset_str(at), "key " + key + ": unknown array element type " + std::to_string(et));
      v.element_type = static_cast<GgufValueType>(et);
      uint64_t n = r.read<uint64_t>("array length");
      // Every element needs at least one byte, so a count beyond the remaining bytes is corrupt.
      size_t min_elem = scalar_size(v.element_type);
      if (min_elem == 0) min_elem = 8;
      if (n > (r.size() - r.pos()) / min_elem)
        fail(r.path(), offset_str(at), "key " + key + ": array length " + std::to_string(n) + " exceeds the file");
      v.array.reserve(n);
      for (uint64_t i = 0; i < n; ++i) v.array.push_back(read_value(r, v.element_type, depth + 1, key));
      break;
    }
    default:
      fail(r.path(), offset_str(at), "key " + key + ": unknown value type " + std::to_string(static_cast<uint32_t>(type)));
  }
  return v;
}

}  // namespace

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::UINT16: case GgufValueType::INT16:
    case GgufValueType::UINT32: case GgufValueType::INT32: case GgufValueType::UINT64: case GgufValueType::INT64:
      return true;
    default: return false;
  }
}

int64_t GgufTensorInfo::elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

GgufFile::GgufFile(const std::string& path) : file_(std::make_shared<MappedFile>(path)) {
  ByteReader r(file_->data(), file_->size(), path);
  uint32_t magic = r.read<uint32_t>("magic");
  if (magic != kGgufMagic) fail(path, offset_str(0), "not a GGUF file (bad magic)");
  version_ = r.read<uint32_t>("version");
  if (version_ < 2 || version_ > 3)
    fail(path, offset_str(4), "unsupported GGUF version " + std::to_string(version_) + " (need 2 or 3)");
  uint64_t n_tensors = r.read<uint64_t>("tensor count");
  uint64_t n_kv = r.read<uint64_t>("metadata count");
  // Each KV needs >= 12 bytes and each tensor info >= 24: larger counts cannot be honest.
  if (n_kv > file_->size() / 12 || n_tensors > file_->size() / 24)
    fail(path, offset_str(8), "absurd tensor or metadata count");

  for (uint64_t i = 0; i < n_kv; ++i) {
    size_t at = r.pos();
    std::string key = read_string(r, "metadata key");
    uint32_t type = r.read<uint32_t>("metadata type");
    if (type > static_cast<uint32_t>(GgufValueType::FLOAT64))
      fail(path, offset_str(at), "key " + key + ": unknown value type " + std::to_string(type));
    if (metadata_.count(key)) fail(path, offset_str(at), "duplicate metadata key " + key);
    metadata_[key] = read_value(r, static_cast<GgufValueType>(type), 0, key);
  }
  if (const GgufValue* a = find("general.alignment")) {
    if (!a->is_integer() || a->integer <= 0 || a->integer % 8 != 0 || a->integer > (1 << 20))
      fail(path, "general.alignment", "alignment must be a positive multiple of 8");
    alignment_ = static_cast<uint32_t>(a->integer);
  }

  for (uint64_t i = 0; i < n_tensors; ++i) {
    size_t at = r.pos();
    GgufTensorInfo t;
    t.name = read_string(r, "tensor name");
    if (t.name.empty() || t.name.size() > kMaxTensorName)
      fail(path, offset_str(at), "tensor name '" + t.name + "' is empty or longer than 63 bytes");
    if (tensor_index_.count(t.name)) fail(path, offset_str(at), "duplicate tensor " + t.name);
    uint32_t n_dims = r.read<uint32_t>("tensor dims");
    if (n_dims == 0 || n_dims > kMaxDims)
      fail(path, offset_str(at), "tensor " + t.name + ": " + std::to_string(n_dims) + " dimensions (1 to 4 allowed)");
    uint64_t total = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = r.read<uint64_t>("tensor shape");
      if (ne == 0 || ne > (1ull << 40) || total > (1ull << 42) / ne)
        fail(path, offset_str(at), "tensor " + t.name + ": absurd shape");
      total *= ne;
      t.ne.push_back(static_cast<int64_t>(ne));
    }
    uint32_t type = r.read<uint32_t>("tensor type");
    if (!ggml_type_supported(type))
      fail(path, "tensor " + t.name, "unsupported tensor type " + ggml_type_name(type));
    t.type = static_cast<GgmlType>(type);
    if (t.ne[0] % ggml_block_elems(t.type) != 0)
      fail(path, "tensor " + t.name, "row length " + std::to_string(t.ne[0]) + " is not a multiple of the " +
                                         ggml_type_name(type) + " block size");
    t.offset = r.read<uint64_t>("tensor offset");
    t.nbytes = ggml_row_bytes(t.type, t.ne[0]) * (total / static_cast<uint64_t>(t.ne[0]));
    tensor_index_[t.name] = tensors_.size();
    tensors_.push_back(std::move(t));
  }

  // Data section starts at the next multiple of the alignment; ggml requires tensors to follow
  // each other in order, each padded to the alignment, so overlaps and holes are refused.
  uint64_t data_start = (r.pos() + alignment_ - 1) / alignment_ * alignment_;
  uint64_t expected = 0;
  for (GgufTensorInfo& t : tensors_) {
    if (t.offset != expected)
      fail(path, "tensor " + t.name, "data offset " + std::to_string(t.offset) + " should be " +
                                         std::to_string(expected) + " (tensors must be sequential and aligned)");
    if (data_start + t.offset + t.nbytes > file_->size())
      fail(path, "tensor " + t.name, "data runs past the end of the file (truncated?)");
    t.data = file_->data() + data_start + t.offset;
    expected = t.offset + (t.nbytes + alignment_ - 1) / alignment_ * alignment_;
  }
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

namespace {
[[noreturn]] void wrong_type(const std::string& path, const std::string& key, const char* want) {
  fail(path, "key " + key, std::string("expected ") + want);
}
}  // namespace

int64_t GgufFile::get_int(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) fail(path(), "key " + key, "missing");
  if (!v->is_integer()) wrong_type(path(), key, "an integer");
  return v->integer;
}

int64_t GgufFile::get_int(const std::string& key, int64_t fallback) const {
  return find(key) ? get_int(key) : fallback;
}

double GgufFile::get_float(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) fail(path(), "key " + key, "missing");
  if (v->is_float()) return v->real;
  if (v->is_integer()) return static_cast<double>(v->integer);
  wrong_type(path(), key, "a number");
}

double GgufFile::get_float(const std::string& key, double fallback) const {
  return find(key) ? get_float(key) : fallback;
}

bool GgufFile::get_bool(const std::string& key, bool fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (v->type != GgufValueType::BOOL && !v->is_integer()) wrong_type(path(), key, "a bool");
  return v->integer != 0;
}

std::string GgufFile::get_string(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) fail(path(), "key " + key, "missing");
  if (v->type != GgufValueType::STRING) wrong_type(path(), key, "a string");
  return v->string;
}

std::string GgufFile::get_string(const std::string& key, const std::string& fallback) const {
  return find(key) ? get_string(key) : fallback;
}

std::vector<std::string> GgufFile::get_string_array(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) fail(path(), "key " + key, "missing");
  if (v->type != GgufValueType::ARRAY || v->element_type != GgufValueType::STRING)
    wrong_type(path(), key, "an array of strings");
  std::vector<std::string> out;
  out.reserve(v->array.size());
  for (const GgufValue& e : v->array) out.push_back(e.string);
  return out;
}

std::vector<float> GgufFile::get_float_array(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) fail(path(), "key " + key, "missing");
  if (v->type != GgufValueType::ARRAY) wrong_type(path(), key, "an array");
  std::vector<float> out;
  out.reserve(v->array.size());
  for (const GgufValue& e : v->array) {
    if (e.is_float()) out.push_back(static_cast<float>(e.real));
    else if (e.is_integer()) out.push_back(static_cast<float>(e.integer));
    else wrong_type(path(), key, "an array of numbers");
  }
  return out;
}

std::vector<int64_t> GgufFile::get_int_array(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) fail(path(), "key " + key, "missing");
  if (v->type != GgufValueType::ARRAY) wrong_type(path(), key, "an array");
  std::vector<int64_t> out;
  out.reserve(v->array.size());
  for (const GgufValue& e : v->array) {
    if (!e.is_integer()) wrong_type(path(), key, "an array of integers");
    out.push_back(e.integer);
  }
  return out;
}

}  // namespace frugal
