// bitsandbytes' serialization of a 4-bit linear layer in a Hugging Face safetensors checkpoint
// (Linear4bit._save_to_state_dict / QuantState.as_dict(packed=True); ECOSYSTEM.md §3e). For a
// weight named W the file holds W (packed codes), W.absmax, W.quant_map, with double quantization
// also W.nested_absmax and W.nested_quant_map, and W.quant_state.bitsandbytes__nf4 (or __fp4): a
// uint8 tensor holding the JSON of the rest (type, blocksize, dtype, shape, nested block/offset).
// config.json says so in `quantization_config` (io/bnb_config.h). These keys are this format's one
// name table.
#pragma once
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "io/bnb_config.h"
#include "format/safetensors.h"
#include "quant/quantized_matrix.h"

namespace frugal {

// The quant_state tensor of weight `weight_name` for `type` ("<W>.quant_state.bitsandbytes__nf4").
std::string bnb_quant_state_name(const std::string& weight_name, Quant4Type type);

// Whether weight `weight_name` is stored 4-bit (it has a quant_state tensor).
bool is_bnb_4bit(const TensorLookup& find, const std::string& weight_name);

// The 4-bit weight `weight_name` of shape [rows, cols] straight into a Quant4Matrix (codes and
// scales copied as stored, never expanded). Every size, dtype and JSON field is checked; errors
// name the folder `where`, the tensor and the problem.
Quant4Matrix read_bnb_4bit(const TensorLookup& find, const std::string& weight_name, int64_t rows, int64_t cols,
                           const std::string& where);

// Appends the tensors bitsandbytes writes for `q` under `weight_name`. Bytes that are not in `q`
// (codebooks, the JSON) are kept in `storage`, which must outlive the write. `dtype` is the torch
// name of the unquantized dtype recorded in the JSON ("bfloat16", "float16", "float32").
void append_bnb_4bit(std::vector<SafetensorsWriteTensor>& out, std::deque<std::vector<uint8_t>>& storage,
                     const std::string& weight_name, const Quant4Matrix& q, const std::string& dtype);

// The JSON of one quant_state, byte for byte as bitsandbytes writes it (Python's json.dumps).
std::string bnb_quant_state_json(const Quant4Matrix& q, const std::string& dtype);

// Python's repr() of a double (shortest round-trip digits; fixed notation for exponents -4..15).
std::string python_float_repr(double x);

}  // namespace frugal
