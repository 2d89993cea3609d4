// llama2.c legacy checkpoint (run.c's format): a 7-int header, then fp32 arrays in a fixed order.
#include <cstring>

#include "core/byte_reader.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "model/model.h"

namespace frugal {

std::unique_ptr<Model> load_llama2c_model(const std::string& path, const std::string& tokenizer_path) {
  if (tokenizer_path.empty())
    fail(path, "", "a llama2.c checkpoint needs its tokenizer: pass --tokenizer (e.g. tok512.bin)");
  MappedFile file(path);
  ByteReader r(file.data(), file.size(), path);
  int32_t header[7];
  const char* fields[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  for (int i = 0; i < 7; ++i) header[i] = r.read<int32_t>("header");
  for (int i = 0; i < 7; ++i)
    if (header[i] == 0 || (i != 5 && header[i] < 0) || header[i] > (1 << 24) || header[i] < -(1 << 24))
      fail(path, std::string("header field ") + fields[i], "absurd value " + std::to_string(header[i]));

  auto model = std::make_unique<Model>();
  model->format = ModelFormat::Llama2c;
  model->path = path;
  LlamaConfig& c = model->config;
  c.dim = header[0];
  c.ffn_dim = header[1];
  c.n_layers = header[2];
  c.n_heads = header[3];
  c.n_kv_heads = header[4];
  c.tied_output = header[5] > 0;  // a negative vocab size means a separate classifier follows
  c.vocab_size = header[5] > 0 ? header[5] : -static_cast<int64_t>(header[5]);
  c.context_length = header[6];
  c.head_dim = c.n_heads > 0 ? c.dim / c.n_heads : 0;
  c.rms_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  c.validate(path);

  model->weights.allocate(c);
  LlamaWeights& w = model->weights;
  // Arrays are stacked over layers ([L, ...]) in this order; read each into its layer's slot.
  auto read_into = [&](float* dst, int64_t n, const char* what) {
    std::memcpy(dst, r.take(static_cast<uint64_t>(n) * 4, what), static_cast<size_t>(n) * 4);
  };
  auto per_layer = [&](auto member, const char* what) {
    for (LayerWeights& l : w.layers) {
      auto& t = l.*member;
      if constexpr (std::is_same_v<std::decay_t<decltype(t)>, Matrix>) read_into(t.data.data(), t.rows * t.cols, what);
      else read_into(t.data(), static_cast<int64_t>(t.size()), what);
    }
  };
  read_into(w.token_embedding.data.data(), c.vocab_size * c.dim, "token_embedding");
  per_layer(&LayerWeights::attn_norm, "rms_att");
  per_layer(&LayerWeights::wq, "wq");
  per_layer(&LayerWeights::wk, "wk");
  per_layer(&LayerWeights::wv, "wv");
  per_layer(&LayerWeights::wo, "wo");
  per_layer(&LayerWeights::ffn_norm, "rms_ffn");
  per_layer(&LayerWeights::gate, "w1");
  per_layer(&LayerWeights::down, "w2");
  per_layer(&LayerWeights::up, "w3");
  read_into(w.output_norm.data(), c.dim, "rms_final");
  r.take(static_cast<uint64_t>(c.context_length) * c.head_dim * 4, "legacy freq_cis tables");
  if (!c.tied_output) read_into(w.output.data.data(), c.vocab_size * c.dim, "classifier");
  if (r.pos() != file.size())
    fail(path, offset_str(r.pos()), std::to_string(file.size() - r.pos()) + " unexpected bytes after the weights");

  // llama2.c rotates adjacent pairs (Meta layout); convert to our HF rotate-half order once, here.
  for (LayerWeights& l : w.layers) {
    permute_rows_meta_to_hf(l.wq.data.data(), l.wq.rows, l.wq.cols, c.n_heads);
    permute_rows_meta_to_hf(l.wk.data.data(), l.wk.rows, l.wk.cols, c.n_kv_heads);
  }
  model->source_tensors.push_back({"(llama2.c fp32 arrays)", "F32", {}, file.size()});
  model->tokenizer = load_tokenizer(tokenizer_path, static_cast<int32_t>(c.vocab_size));
  if (model->tokenizer->size() != c.vocab_size)
    fail(tokenizer_path, "", "tokenizer has " + std::to_string(model->tokenizer->size()) + " tokens, model expects " +
                                 std::to_string(c.vocab_size));
  return model;
}

}  // namespace frugal
