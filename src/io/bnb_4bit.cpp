#include "io/bnb_4bit.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "core/error.h"

namespace frugal {

namespace {

// Suffixes after the weight's name, as Linear4bit writes them.
constexpr const char* kAbsmax = ".absmax";
constexpr const char* kQuantMap = ".quant_map";
constexpr const char* kNestedAbsmax = ".nested_absmax";
constexpr const char* kNestedQuantMap = ".nested_quant_map";
constexpr const char* kQuantState = ".quant_state.bitsandbytes__";

const char* type_name(Quant4Type t) { return t == Quant4Type::kNf4 ? "nf4" : "fp4"; }

std::string tensor_where(const std::string& name) { return "tensor '" + name + "'"; }

const SafetensorsTensor& need(const TensorLookup& find, const std::string& name, const std::string& where) {
  const SafetensorsTensor* t = find(name);
  if (!t) fail(where, tensor_where(name), "missing (a bitsandbytes 4-bit weight needs it)");
  return *t;
}

// An fp32 tensor of exactly `count` values, copied out (the mapping is not aligned).
std::vector<float> f32_values(const SafetensorsTensor& t, int64_t count) {
  if (t.dtype != SafeDtype::F32)
    fail(t.file, tensor_where(t.name), std::string("dtype is ") + safe_dtype_name(t.dtype) + ", expected F32");
  if (t.numel() != count)
    fail(t.file, tensor_where(t.name), "holds " + std::to_string(t.numel()) + " values, expected " + std::to_string(count));
  std::vector<float> v(static_cast<size_t>(count));
  std::memcpy(v.data(), t.data, v.size() * sizeof(float));
  return v;
}

// The stored codebook must be the one our codec uses: bitsandbytes dequantizes with the stored
// map, so a different one would silently give other weights.
void check_map(const SafetensorsTensor& t, const float* expected, int64_t count, const char* what) {
  const std::vector<float> v = f32_values(t, count);
  if (std::memcmp(v.data(), expected, v.size() * sizeof(float)) != 0)
    fail(t.file, tensor_where(t.name), std::string("is not bitsandbytes' ") + what);
}

template <typename T>
T state_field(const nlohmann::json& j, const char* key, const SafetensorsTensor& t) {
  if (!j.contains(key)) fail(t.file, tensor_where(t.name), std::string("quant_state JSON has no '") + key + "'");
  try {
    return j[key].get<T>();
  } catch (const nlohmann::json::exception&) {
    fail(t.file, tensor_where(t.name), std::string("quant_state JSON field '") + key + "' has the wrong type");
  }
}

std::span<const uint8_t> bytes_of(const void* p, size_t n) { return {static_cast<const uint8_t*>(p), n}; }

}  // namespace

std::string bnb_quant_state_name(const std::string& weight_name, Quant4Type type) {
  return weight_name + kQuantState + type_name(type);
}

bool is_bnb_4bit(const TensorLookup& find, const std::string& weight_name) {
  return find(bnb_quant_state_name(weight_name, Quant4Type::kNf4)) ||
         find(bnb_quant_state_name(weight_name, Quant4Type::kFp4));
}

Quant4Matrix read_bnb_4bit(const TensorLookup& find, const std::string& weight_name, int64_t rows, int64_t cols,
                           const std::string& where) {
  const SafetensorsTensor* nf4 = find(bnb_quant_state_name(weight_name, Quant4Type::kNf4));
  const SafetensorsTensor* fp4 = find(bnb_quant_state_name(weight_name, Quant4Type::kFp4));
  if (!nf4 && !fp4) fail(where, tensor_where(weight_name), "has no bitsandbytes quant_state");
  if (nf4 && fp4) fail(where, tensor_where(weight_name), "has both an nf4 and an fp4 quant_state");
  const SafetensorsTensor& st = nf4 ? *nf4 : *fp4;
  Quant4Matrix q;
  q.type = nf4 ? Quant4Type::kNf4 : Quant4Type::kFp4;
  q.rows = rows;
  q.cols = cols;

  if (st.dtype != SafeDtype::U8) fail(st.file, tensor_where(st.name), "dtype must be U8 (bytes of JSON)");
  nlohmann::json state;
  try {
    state = nlohmann::json::parse(st.data, st.data + st.nbytes);
  } catch (const nlohmann::json::parse_error& e) {
    fail(st.file, tensor_where(st.name), "quant_state is not valid JSON (byte " + std::to_string(e.byte) + ")");
  } catch (const nlohmann::json::exception&) {  // out_of_range: a number beyond double's range (1e999)
    fail(st.file, tensor_where(st.name), "quant_state is not valid JSON (a number out of range)");
  }
  if (!state.is_object()) fail(st.file, tensor_where(st.name), "quant_state JSON is not an object");
  if (state_field<std::string>(state, "quant_type", st) != type_name(q.type))
    fail(st.file, tensor_where(st.name), "quant_type does not match the tensor name's " + std::string(type_name(q.type)));
  q.blocksize = state_field<int64_t>(state, "blocksize", st);
  if (q.blocksize <= 0 || q.blocksize > (1 << 20))
    fail(st.file, tensor_where(st.name), "blocksize " + std::to_string(q.blocksize) + " is out of range");
  state_field<std::string>(state, "dtype", st);
  const std::vector<int64_t> shape = state_field<std::vector<int64_t>>(state, "shape", st);
  if (shape != std::vector<int64_t>{rows, cols})
    fail(st.file, tensor_where(st.name),
         "shape " + nlohmann::json(shape).dump() + " does not match config.json's [" + std::to_string(rows) + ", " +
             std::to_string(cols) + "]");

  const int64_t n = rows * cols, blocks = num_blocks(n, q.blocksize);
  const SafetensorsTensor& w = need(find, weight_name, where);
  // The codes may be viewed as another dtype (bnb_4bit_quant_storage); only the bytes count.
  if (static_cast<int64_t>(w.nbytes) != quant4_packed_bytes(n))
    fail(w.file, tensor_where(w.name),
         std::to_string(w.nbytes) + " bytes of codes, expected " + std::to_string(quant4_packed_bytes(n)));
  q.packed.assign(w.data, w.data + w.nbytes);
  check_map(need(find, weight_name + kQuantMap, where), quant4_codebook(q.type).data(), 16,
            q.type == Quant4Type::kNf4 ? "NF4 codebook" : "FP4 codebook");

  const SafetensorsTensor& absmax = need(find, weight_name + kAbsmax, where);
  q.double_quant = absmax.dtype == SafeDtype::U8;
  if (!q.double_quant) {
    if (state.contains("nested_blocksize"))
      fail(st.file, tensor_where(st.name), "quant_state says double quantization but absmax is not U8");
    q.absmax = f32_values(absmax, blocks);
    return q;
  }
  if (absmax.numel() != blocks)
    fail(absmax.file, tensor_where(absmax.name),
         "holds " + std::to_string(absmax.numel()) + " codes, expected " + std::to_string(blocks));
  q.scales.codes.assign(absmax.data, absmax.data + absmax.nbytes);
  q.scales.nested_blocksize = state_field<int64_t>(state, "nested_blocksize", st);
  if (q.scales.nested_blocksize <= 0 || q.scales.nested_blocksize > (1 << 20))
    fail(st.file, tensor_where(st.name), "nested_blocksize is out of range");
  if (state_field<std::string>(state, "nested_dtype", st) != "float32")
    fail(st.file, tensor_where(st.name), "nested_dtype must be float32");
  q.scales.offset = state_field<float>(state, "nested_offset", st);
  q.scales.nested_absmax =
      f32_values(need(find, weight_name + kNestedAbsmax, where), num_blocks(blocks, q.scales.nested_blocksize));
  check_map(need(find, weight_name + kNestedQuantMap, where), dynamic_map_signed().data(), 256,
            "signed dynamic map");
  return q;
}

std::string python_float_repr(double x) {
  char buf[64];
  // Shortest round-trip digits in scientific form, "d.ddde+XX", re-laid out as Python's repr does.
  const auto end = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific).ptr;
  std::string s(buf, end);
  if (s == "inf" || s == "-inf") return s == "inf" ? "Infinity" : "-Infinity";  // json.dumps' spelling
  if (s.find("nan") != std::string::npos) return "NaN";
  const bool negative = s[0] == '-';
  if (negative) s.erase(0, 1);
  const size_t e = s.find('e');
  const int exponent = std::stoi(s.substr(e + 1));
  std::string digits = s.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  std::string out;
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out = "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    } else {
      const size_t point = static_cast<size_t>(exponent) + 1;
      if (digits.size() <= point) out = digits + std::string(point - digits.size(), '0') + ".0";
      else out = digits.substr(0, point) + "." + digits.substr(point);
    }
  } else {
    out = digits.substr(0, 1) + (digits.size() > 1 ? "." + digits.substr(1) : "");
    const int mag = exponent < 0 ? -exponent : exponent;
    out += std::string("e") + (exponent < 0 ? "-" : "+") + (mag < 10 ? "0" : "") + std::to_string(mag);
  }
  return negative ? "-" + out : out;
}

std::string bnb_quant_state_json(const Quant4Matrix& q, const std::string& dtype) {
  std::string s = std::string("{\"quant_type\": \"") + type_name(q.type) + "\", \"blocksize\": " +
                  std::to_string(q.blocksize) + ", \"dtype\": \"" + dtype + "\", \"shape\": [" + std::to_string(q.rows) +
                  ", " + std::to_string(q.cols) + "]";
  if (q.double_quant)
    s += ", \"nested_blocksize\": " + std::to_string(q.scales.nested_blocksize) +
         ", \"nested_dtype\": \"float32\", \"nested_offset\": " + python_float_repr(q.scales.offset);
  return s + "}";
}

void append_bnb_4bit(std::vector<SafetensorsWriteTensor>& out, std::deque<std::vector<uint8_t>>& storage,
                     const std::string& name, const Quant4Matrix& q, const std::string& dtype) {
  const auto kept = [&](const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    return std::span<const uint8_t>(storage.emplace_back(b, b + n));
  };
  const int64_t packed = static_cast<int64_t>(q.packed.size());
  out.push_back({name, SafeDtype::U8, {packed, 1}, bytes_of(q.packed.data(), q.packed.size())});
  if (q.double_quant) {
    out.push_back({name + kAbsmax, SafeDtype::U8, {static_cast<int64_t>(q.scales.codes.size())},
                   bytes_of(q.scales.codes.data(), q.scales.codes.size())});
    out.push_back({name + kNestedAbsmax, SafeDtype::F32, {static_cast<int64_t>(q.scales.nested_absmax.size())},
                   bytes_of(q.scales.nested_absmax.data(), q.scales.nested_absmax.size() * 4)});
    out.push_back({name + kNestedQuantMap, SafeDtype::F32, {256}, kept(dynamic_map_signed().data(), 256 * 4)});
  } else {
    out.push_back({name + kAbsmax, SafeDtype::F32, {static_cast<int64_t>(q.absmax.size())},
                   bytes_of(q.absmax.data(), q.absmax.size() * 4)});
  }
  out.push_back({name + kQuantMap, SafeDtype::F32, {16}, kept(quant4_codebook(q.type).data(), 16 * 4)});
  const std::string json = bnb_quant_state_json(q, dtype);
  out.push_back({bnb_quant_state_name(name, q.type), SafeDtype::U8, {static_cast<int64_t>(json.size())},
                 kept(json.data(), json.size())});
}

}  // namespace frugal
