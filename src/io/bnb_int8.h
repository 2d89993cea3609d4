// bitsandbytes' serialization of an 8-bit (LLM.int8) linear layer in a Hugging Face safetensors
// checkpoint (Linear8bitLt._save_to_state_dict, what transformers' save_pretrained writes for a model
// loaded with BitsAndBytesConfig(load_in_8bit=True)). For module M (weight named M.weight) the file
// holds M.weight (I8 [out, in], the codes CB), M.SCB (F32 [out], each row's absmax) and
// M.weight_format (U8 scalar, 0 = row-major, the only layout bitsandbytes still writes or reads).
// config.json says so in `quantization_config` (io/bnb_config.h). These keys are this format's one
// name table.
#pragma once
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "io/bnb_config.h"
#include "format/safetensors.h"
#include "quant/int8_rowwise.h"

namespace frugal {

// Whether weight `weight_name` ("<module>.weight") is stored 8-bit (its module has an SCB tensor).
bool is_bnb_int8(const TensorLookup& find, const std::string& weight_name);

// The 8-bit weight `weight_name` of shape [rows, cols], codes and scales copied as stored (never
// expanded). Every size, dtype and value that could not come from bitsandbytes is refused; errors
// name the file, the tensor and the problem.
Int8RowwiseMatrix read_bnb_int8(const TensorLookup& find, const std::string& weight_name, int64_t rows, int64_t cols,
                                const std::string& where);

// Appends the tensors bitsandbytes writes for `q` under `weight_name`. The weight_format byte is kept
// in `storage`, which must outlive the write.
void append_bnb_int8(std::vector<SafetensorsWriteTensor>& out, std::deque<std::vector<uint8_t>>& storage,
                     const std::string& weight_name, const Int8RowwiseMatrix& q);

}  // namespace frugal
