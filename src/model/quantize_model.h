// `frugal quantize`'s work: every linear projection of every block to NF4 / FP4 (bitsandbytes'
// layout, optionally double-quantized scales) or row-wise int8, measuring what it costs: the
// resident bytes of codes and scales per parameter and the RMSE of each matrix against the weights
// it came from. Embedding, norms and head stay as they are (as transformers + bitsandbytes do).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/weights.h"

namespace frugal {

enum class WeightQuant { kNf4, kFp4, kInt8 };
// "nf4", "fp4", "int8"; anything else fails in one line naming the option.
WeightQuant parse_weight_quant(const std::string& name);
std::string weight_quant_name(WeightQuant q, bool double_quant);  // "nf4+dq", "int8", ...

struct LinearQuantError {
  std::string name;    // "model.layers.3.self_attn.q_proj"
  int64_t params = 0;
  double rmse = 0;        // sqrt(mean((w - dequantized)^2))
  double weight_rms = 0;  // sqrt(mean(w^2)), to read the RMSE against
};

struct QuantizeReport {
  std::string method;
  int64_t params = 0;  // of the quantized matrices
  int64_t bytes = 0;   // their resident codes + scales (+ per-matrix offsets), measured from the containers
  double bits_per_param() const { return params ? 8.0 * static_cast<double>(bytes) / static_cast<double>(params) : 0; }
  std::vector<LinearQuantError> layers;
};

// Quantizes in place: each matrix becomes a Quant4Matrix or int8 rows (its fp32 and bf16 copies
// freed), which inference (dequantizing per product) and the bitsandbytes writers use. The bytes are
// those of the containers (codes and scales). `double_quant` is for 4-bit.
QuantizeReport quantize_linears(LlamaWeights& weights, WeightQuant quant, bool double_quant);

// The per-layer table and the totals, for a terminal.
std::string format_quantize_report(const QuantizeReport& report);

}  // namespace frugal
