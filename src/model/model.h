// A loaded model: config, weights in the internal layout, its tokenizer, and where it came from.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/llama_config.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace frugal {

enum class ModelFormat { Gguf, HfFolder, Llama2c };
std::string model_format_name(ModelFormat f);

struct Model {
  LlamaConfig config;
  LlamaWeights weights;
  std::unique_ptr<Tokenizer> tokenizer;
  ModelFormat format = ModelFormat::Gguf;
  std::string path;
  std::string name;
  std::vector<SourceTensor> source_tensors;
};

struct LoadOptions {
  // QLoRA's base: the linear projections quantized as they are read, one matrix at a time, so a
  // model whose fp32 copy would not fit in memory loads in 4 bits (GGUF and HF folders; llama2.c
  // files, tiny, are quantized after loading).
  std::optional<LinearQuantization> quantize_linears;
  // A GGUF base's projections kept in the file's own type (Q4_K, Q8_0, F16, ...; F32 ones stay
  // plain) and dequantized per product: trained on as stored, without re-quantizing.
  bool keep_gguf_types = false;
  // For decoding: every matrix a GGUF stores in a block type (Q4_0 ... Q6_K), the token embedding
  // and output head included, held in the integer-dot layout the decode kernels read
  // (quant/int_dot_matrix.h), and every F16 / BF16 one kept in its 16 bits (kernels/half_matvec.h),
  // never as fp32; F32-stored matrices load as usual.
  bool int_dot_layout = false;
};

// Picks the format from the path: a folder is a Hugging Face model, a file starting with "GGUF" is
// GGUF, anything else is a llama2.c checkpoint (which needs `tokenizer_path`, e.g. tok512.bin).
// `tokenizer_path` may also override the tokenizer of the other formats (a GGUF or HF folder).
std::unique_ptr<Model> load_model(const std::string& path, const std::string& tokenizer_path = "",
                                  const LoadOptions& options = {});

// Without `read_tokenizer` the model's tokenizer is left null (the caller sets one).
std::unique_ptr<Model> load_gguf_model(const std::string& path, const LoadOptions& options = {},
                                       bool read_tokenizer = true);
// Only the config of a GGUF model: reads the header (metadata and tensor list), no tensor data.
LlamaConfig load_gguf_config(const std::string& path);
std::unique_ptr<Model> load_hf_model(const std::string& dir, const LoadOptions& options = {});
std::unique_ptr<Model> load_llama2c_model(const std::string& path, const std::string& tokenizer_path);
// Any tokenizer file: a GGUF (vocab-only or full), a llama2.c tokenizer .bin, or an HF folder.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path, int32_t vocab_size_hint);

}  // namespace frugal
