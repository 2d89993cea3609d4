// A loaded model: config, weights in the internal layout, its tokenizer, and where it came from.
#pragma once
#include <memory>
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

// Picks the format from the path: a folder is a Hugging Face model, a file starting with "GGUF" is
// GGUF, anything else is a llama2.c checkpoint (which needs `tokenizer_path`, e.g. tok512.bin).
// `tokenizer_path` may also override the tokenizer of the other formats (a GGUF or HF folder).
std::unique_ptr<Model> load_model(const std::string& path, const std::string& tokenizer_path = "");

// Without `read_tokenizer` the model's tokenizer is left null (the caller sets one).
std::unique_ptr<Model> load_gguf_model(const std::string& path, bool read_tokenizer = true);
// Only the config of a GGUF model: reads the header (metadata and tensor list), no tensor data.
LlamaConfig load_gguf_config(const std::string& path);
std::unique_ptr<Model> load_hf_model(const std::string& dir);
std::unique_ptr<Model> load_llama2c_model(const std::string& path, const std::string& tokenizer_path);
// Any tokenizer file: a GGUF (vocab-only or full), a llama2.c tokenizer .bin, or an HF folder.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path, int32_t vocab_size_hint);

}  // namespace frugal
