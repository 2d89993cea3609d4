#include "io/bnb_int8.h"

#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace frugal {

namespace {

// Beside the weight, under its module's name.
constexpr const char* kWeightSuffix = ".weight";
constexpr const char* kScb = ".SCB";
constexpr const char* kWeightFormat = ".weight_format";
constexpr int64_t kRowMajor = 0;  // bitsandbytes' LINEAR_8BIT_WEIGHTS_FORMAT_MAPPING["row"]

std::string module_of(const std::string& weight_name) {
  const size_t n = std::strlen(kWeightSuffix);
  if (weight_name.size() <= n || weight_name.compare(weight_name.size() - n, n, kWeightSuffix) != 0)
    fail("internal: '" + weight_name + "' is not a linear layer's weight");
  return weight_name.substr(0, weight_name.size() - n);
}

std::string tensor_where(const std::string& name) { return "tensor '" + name + "'"; }

std::string shape_str(const std::vector<int64_t>& shape) { return nlohmann::json(shape).dump(); }

// The one integer of a scalar (or one-element) tensor of an integer dtype.
int64_t integer_scalar(const SafetensorsTensor& t) {
  if (t.numel() != 1) fail(t.file, tensor_where(t.name), "holds " + std::to_string(t.numel()) + " values, expected 1");
  switch (t.dtype) {
    case SafeDtype::U8: return t.data[0];
    case SafeDtype::I8: return static_cast<int8_t>(t.data[0]);
    case SafeDtype::I32: { int32_t v; std::memcpy(&v, t.data, 4); return v; }
    case SafeDtype::I64: { int64_t v; std::memcpy(&v, t.data, 8); return v; }
    default: fail(t.file, tensor_where(t.name), std::string("dtype is ") + safe_dtype_name(t.dtype) + ", expected U8");
  }
}

}  // namespace

bool is_bnb_int8(const TensorLookup& find, const std::string& weight_name) {
  return find(module_of(weight_name) + kScb) != nullptr;
}

Int8RowwiseMatrix read_bnb_int8(const TensorLookup& find, const std::string& weight_name, int64_t rows, int64_t cols,
                                const std::string& where) {
  const std::string module = module_of(weight_name);
  const SafetensorsTensor* scb = find(module + kScb);
  if (!scb) fail(where, tensor_where(module + kScb), "missing (a bitsandbytes 8-bit weight needs it)");
  const SafetensorsTensor* w = find(weight_name);
  if (!w) fail(where, tensor_where(weight_name), "missing (its SCB is there)");
  if (w->dtype != SafeDtype::I8)
    fail(w->file, tensor_where(w->name),
         std::string("dtype is ") + safe_dtype_name(w->dtype) + ", expected I8 (an 8-bit weight, it has an SCB)");
  if (w->shape != std::vector<int64_t>{rows, cols})
    fail(w->file, tensor_where(w->name),
         "shape " + shape_str(w->shape) + " does not match config.json's " + shape_str({rows, cols}));
  if (scb->shape != std::vector<int64_t>{rows})
    fail(scb->file, tensor_where(scb->name), "shape " + shape_str(scb->shape) + ", expected [" + std::to_string(rows) + "]");
  if (scb->dtype != SafeDtype::F32 && scb->dtype != SafeDtype::F16 && scb->dtype != SafeDtype::BF16)
    fail(scb->file, tensor_where(scb->name), std::string("dtype is ") + safe_dtype_name(scb->dtype) + ", expected F32");
  if (const SafetensorsTensor* format = find(module + kWeightFormat)) {
    const int64_t f = integer_scalar(*format);
    if (f != kRowMajor)
      fail(format->file, tensor_where(format->name),
           "is " + std::to_string(f) + ", not 0 (row-major); bitsandbytes' other int8 layouts are not read");
  }
  Int8RowwiseMatrix q;
  q.rows = rows;
  q.cols = cols;
  q.absmax.resize(static_cast<size_t>(rows));
  to_f32(*scb, q.absmax.data());
  for (int64_t r = 0; r < rows; ++r)
    if (!std::isfinite(q.absmax[r]) || q.absmax[r] < 0)
      fail(scb->file, tensor_where(scb->name),
           "row " + std::to_string(r) + ": absmax " + std::to_string(q.absmax[r]) + " is negative or not finite");
  q.codes.resize(static_cast<size_t>(rows * cols));
  std::memcpy(q.codes.data(), w->data, q.codes.size());
  return q;
}

void append_bnb_int8(std::vector<SafetensorsWriteTensor>& out, std::deque<std::vector<uint8_t>>& storage,
                     const std::string& weight_name, const Int8RowwiseMatrix& q) {
  const std::string module = module_of(weight_name);
  out.push_back({weight_name, SafeDtype::I8, {q.rows, q.cols},
                 {reinterpret_cast<const uint8_t*>(q.codes.data()), q.codes.size()}});
  out.push_back({module + kScb, SafeDtype::F32, {q.rows},
                 {reinterpret_cast<const uint8_t*>(q.absmax.data()), q.absmax.size() * sizeof(float)}});
  out.push_back({module + kWeightFormat, SafeDtype::U8, {}, storage.emplace_back(1, static_cast<uint8_t>(kRowMajor))});
}

}  // namespace frugal
