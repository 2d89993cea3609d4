#include "model/quantize_model.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <memory>

#include "core/error.h"
#include "model/module_names.h"
#include "quant/packed_matrix.h"

namespace frugal {

namespace {

constexpr WeightRole kLinearRoles[] = {WeightRole::Wq,   WeightRole::Wk, WeightRole::Wv,  WeightRole::Wo,
                                       WeightRole::Gate, WeightRole::Up, WeightRole::Down};

double rms(const float* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * x[i];
  return n ? std::sqrt(s / static_cast<double>(n)) : 0;
}

double rms_diff(const float* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    s += d * d;
  }
  return n ? std::sqrt(s / static_cast<double>(n)) : 0;
}

}  // namespace

WeightQuant parse_weight_quant(const std::string& name) {
  std::string s = name;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (s == "nf4") return WeightQuant::kNf4;
  if (s == "fp4") return WeightQuant::kFp4;
  if (s == "int8") return WeightQuant::kInt8;
  fail("--type must be nf4, fp4 or int8, not '" + name + "'");
}

std::string weight_quant_name(WeightQuant q, bool double_quant) {
  const std::string base = q == WeightQuant::kNf4 ? "nf4" : q == WeightQuant::kFp4 ? "fp4" : "int8";
  return double_quant ? base + "+dq" : base;
}

QuantizeReport quantize_linears(LlamaWeights& w, WeightQuant quant, bool double_quant) {
  if (double_quant && quant == WeightQuant::kInt8)
    fail("--double-quant applies to the 4-bit types (nf4, fp4), not int8");
  QuantizeReport report;
  report.method = weight_quant_name(quant, double_quant);
  std::vector<float> restored;  // one matrix at a time
  for (int64_t l = 0; l < static_cast<int64_t>(w.layers.size()); ++l)
    for (WeightRole role : kLinearRoles) {
      Matrix& m = linear_weight(w, role, l);
      if (m.data.empty()) fail(hf_module_name(role, l), "", "is already quantized");
      const int64_t n = m.rows * m.cols;
      restored.resize(static_cast<size_t>(n));
      int64_t bytes = 0;
      if (quant == WeightQuant::kInt8) {
        auto q = pack_int8_rowwise(m.data.data(), m.rows, m.cols, hf_module_name(role, l));
        q->dequantize(restored.data());
        bytes = q->bytes();
        m.packed = std::move(q);
      } else {
        auto q = std::make_shared<Quant4Matrix>(quantize_matrix_4bit(
            m.data.data(), m.rows, m.cols, quant == WeightQuant::kNf4 ? Quant4Type::kNf4 : Quant4Type::kFp4, double_quant));
        q->dequantize(restored.data());
        bytes = q->bytes();
        m.q4 = std::move(q);
      }
      report.layers.push_back({hf_module_name(role, l), n, rms_diff(m.data.data(), restored.data(), n),
                               rms(m.data.data(), n)});
      report.params += n;
      report.bytes += bytes;
      std::vector<uint16_t>().swap(m.bf16);
      std::vector<float>().swap(m.data);
    }
  return report;
}

std::string format_quantize_report(const QuantizeReport& r) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-36s %10s %12s %12s %9s\n", "layer", "params", "rmse", "weight rms", "rel rmse");
  out += line;
  double sq = 0;
  for (const LinearQuantError& e : r.layers) {
    std::snprintf(line, sizeof line, "%-36s %10lld %12.4e %12.4e %8.2f%%\n", e.name.c_str(),
                  static_cast<long long>(e.params), e.rmse, e.weight_rms, e.weight_rms > 0 ? 100.0 * e.rmse / e.weight_rms : 0.0);
    out += line;
    sq += e.rmse * e.rmse * static_cast<double>(e.params);
  }
  std::snprintf(line, sizeof line,
                "%s: %lld linear parameters in %lld bytes of codes and scales = %.4f bits per parameter; overall rmse %.4e\n",
                r.method.c_str(), static_cast<long long>(r.params), static_cast<long long>(r.bytes), r.bits_per_param(),
                r.params ? std::sqrt(sq / static_cast<double>(r.params)) : 0.0);
  out += line;
  return out;
}

}  // namespace frugal
