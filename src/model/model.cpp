#include "model/model.h"

#include <sys/stat.h>

#include <cstring>
#include <fstream>

#include "core/error.h"
#include "format/gguf.h"

namespace frugal {

std::string model_format_name(ModelFormat f) {
  switch (f) {
    case ModelFormat::Gguf: return "gguf";
    case ModelFormat::HfFolder: return "hf";
    case ModelFormat::Llama2c: return "llama2c";
  }
  return "?";
}

namespace {
bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool starts_with_gguf_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "", "cannot open");
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}
}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path, int32_t vocab_size_hint) {
  if (is_directory(path)) return std::make_unique<Tokenizer>(vocab_from_hf_dir(path));
  if (starts_with_gguf_magic(path)) return std::make_unique<Tokenizer>(vocab_from_gguf(GgufFile(path)));
  return std::make_unique<Tokenizer>(vocab_from_llama2c(path, vocab_size_hint));
}

std::unique_ptr<Model> load_model(const std::string& path, const std::string& tokenizer_path,
                                  const LoadOptions& options) {
  std::unique_ptr<Model> model;
  if (options.keep_gguf_types && (is_directory(path) || !starts_with_gguf_magic(path)))
    fail(path, "keep_gguf_quantization", "the base model is not a GGUF file");
  if (is_directory(path)) {
    model = load_hf_model(path, options);
  } else if (starts_with_gguf_magic(path)) {
    model = load_gguf_model(path, options, tokenizer_path.empty());
  } else {
    model = load_llama2c_model(path, tokenizer_path);
    if (options.quantize_linears) quantize_linear_weights(model->weights, *options.quantize_linears);
    return model;
  }
  if (!tokenizer_path.empty()) {
    model->tokenizer = load_tokenizer(tokenizer_path, static_cast<int32_t>(model->config.vocab_size));
    if (model->tokenizer->size() > model->config.vocab_size)
      fail(tokenizer_path, "", "tokenizer has more tokens than the model's vocabulary");
  }
  return model;
}

}  // namespace frugal
