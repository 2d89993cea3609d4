// GGUF model import: Llama metadata -> LlamaConfig, tensors dequantized into the internal layout.
#include <omp.h>

#include <cstring>

#include "core/error.h"
#include "format/gguf.h"
#include "io/gguf_lora.h"
#include "io/gguf_rope.h"
#include "io/tensor_names.h"
#include "model/families.h"
#include "model/model.h"
#include "quant/packed_matrix.h"

namespace frugal {

namespace {

LlamaConfig config_from_gguf(const GgufFile& g) {
  LlamaConfig c;
  const ModelFamily& family = family_of_architecture(g.get_string("general.architecture"), g.path());
  const std::string a = std::string(family.architecture) + ".";
  c.dim = g.get_int(a + "embedding_length");
  c.n_layers = g.get_int(a + "block_count");
  c.n_heads = g.get_int(a + "attention.head_count");
  c.n_kv_heads = g.get_int(a + "attention.head_count_kv", c.n_heads);
  c.ffn_dim = g.get_int(a + "feed_forward_length");
  c.context_length = g.get_int(a + "context_length", 2048);
  c.rms_eps = static_cast<float>(g.get_float(a + "attention.layer_norm_rms_epsilon", 1e-5));
  c.rope_theta = static_cast<float>(g.get_float(a + "rope.freq_base", 10000.0));
  if (c.n_heads <= 0) fail(g.path(), a + "attention.head_count", "must be positive");
  c.head_dim = g.get_int(a + "attention.key_length", g.get_int(a + "rope.dimension_count", c.dim / c.n_heads));
  if (g.get_int(a + "rope.dimension_count", c.head_dim) != c.head_dim)
    fail(g.path(), a + "rope.dimension_count", "partial rotary dimensions are not supported");
  if (g.get_int(a + "attention.value_length", c.head_dim) != c.head_dim)
    fail(g.path(), a + "attention.value_length", "must equal the key length");
  c.rope_scaling = rope_scaling_from_gguf(g, a, c.head_dim, c.context_length);
  c.tied_output = g.find_tensor("output.weight") == nullptr;
  const GgufTensorInfo* emb = g.find_tensor("token_embd.weight");
  if (!emb) fail(g.path(), "token_embd.weight", "missing tensor");
  if (emb->ne.size() != 2) fail(g.path(), "token_embd.weight", "must be 2-dimensional");
  c.vocab_size = emb->ne[1];
  apply_family(family, c);
  c.qkv_bias = g.find_tensor("blk.0.attn_q.bias") != nullptr;
  c.sliding_window = g.get_int(a + "attention.sliding_window", 0);
  c.sliding_window_pattern = g.get_int(a + "attention.sliding_window_pattern", c.sliding_window_pattern);
  c.rope_local_theta = static_cast<float>(g.get_float(a + "rope.freq_base_swa", c.rope_local_theta));
  c.validate(g.path());
  return c;
}

// Where a slot's values are in the file: a tensor name and its first row (fused tensors, Phi-3's
// attn_qkv [q; k; v] and ffn_up [gate; up], hold several slots one after the other).
struct TensorSource {
  std::string name;
  int64_t first_row = 0;
  int64_t total_rows = 0;  // of the whole tensor
};

TensorSource tensor_source(const LlamaConfig& c, const ModelFamily& f, const WeightSlot& s) {
  if (const std::optional<FusedRows> fused = fused_rows(f, c, s.role)) {
    const std::string blk = "blk." + std::to_string(s.layer) + ".";
    return {blk + (fused->attention ? "attn_qkv.weight" : "ffn_up.weight"), fused->first_row, fused->total_rows};
  }
  return {gguf_tensor_name(s.role, s.layer), 0, s.rows};
}

}  // namespace

LlamaConfig load_gguf_config(const std::string& path) { return config_from_gguf(GgufFile(path)); }

std::unique_ptr<Model> load_gguf_model(const std::string& path, const LoadOptions& options, bool read_tokenizer) {
  GgufFile g(path);
  auto model = std::make_unique<Model>();
  model->format = ModelFormat::Gguf;
  model->path = path;
  model->name = g.get_string("general.name", "");
  model->config = config_from_gguf(g);
  const LlamaConfig& c = model->config;
  if (read_tokenizer) {
    // frugal init-model writes models without one; they are used with a tokenizer given separately.
    if (!g.find("tokenizer.ggml.model"))
      fail(path, "tokenizer.ggml.model", "the file has no tokenizer; give one (--tokenizer FILE)");
    model->tokenizer = std::make_unique<Tokenizer>(vocab_from_gguf(g));
    if (model->tokenizer->size() != c.vocab_size)
      fail(path, "tokenizer.ggml.tokens", std::to_string(model->tokenizer->size()) + " tokens but token_embd has " +
                                              std::to_string(c.vocab_size) + " rows");
  }

  for (const GgufTensorInfo& t : g.tensors())
    model->source_tensors.push_back({t.name, ggml_type_name(static_cast<uint32_t>(t.type)), t.ne, t.nbytes});

  const std::optional<LinearQuantization>& quantize = options.quantize_linears;
  if (quantize && options.keep_gguf_types) fail(path, "", "either quantize the base or keep its GGUF types, not both");
  if (quantize && options.int_dot_layout) fail(path, "", "either quantize the base or keep its GGUF blocks for decoding, not both");
  // Every tensor is found and its shape checked before anything is allocated: the sizes come from
  // metadata, and a config that no tensor in the file backs must fail, not allocate what it claims
  // (fuzz_gguf: 64 GB from one edited embedding_length). weight_layout is weight_slots' order.
  // Each layer holds several tensors, so a block count above the file's tensor count is refused
  // before the layout is listed (fuzz_gguf: 1.3 GB of slots for an edited block_count).
  if (c.n_layers > static_cast<int64_t>(g.tensors().size()))
    fail(path, c.architecture + ".block_count",
         std::to_string(c.n_layers) + " layers, but the file holds only " + std::to_string(g.tensors().size()) + " tensors");
  const std::vector<WeightSlot> layout = weight_layout(c);
  const ModelFamily& family = family_of_architecture(c.architecture, path);
  std::vector<const GgufTensorInfo*> infos(layout.size());
  std::vector<int64_t> first_rows(layout.size());
  for (size_t i = 0; i < layout.size(); ++i) {
    const WeightSlot& s = layout[i];
    const TensorSource src = tensor_source(c, family, s);
    const std::string& name = src.name;
    const GgufTensorInfo* t = g.find_tensor(name);
    if (!t) fail(path, name, "missing tensor");
    first_rows[i] = src.first_row;
    // ggml lists the row length first: ne = [cols, rows] for a matrix, [n] for a vector.
    const bool is_vector = s.cols == 1;
    bool ok = is_vector ? (t->ne.size() == 1 && t->ne[0] == s.rows)
                        : (t->ne.size() == 2 && t->ne[0] == s.cols && t->ne[1] == src.total_rows);
    if (!ok) {
      std::string got;
      for (int64_t d : t->ne) {
        if (!got.empty()) got += 'x';
        got += std::to_string(d);
      }
      fail(path, name, "shape " + got + " does not match the config (expected " +
                           (is_vector ? std::to_string(s.rows) : std::to_string(s.cols) + "x" + std::to_string(src.total_rows)) + ")");
    }
    infos[i] = t;
  }

  // Quantized or kept compact: each projection (and, for decoding, each table) is allocated while it is read.
  const bool keep_linears = options.keep_gguf_types || options.int_dot_layout;
  model->weights.allocate(c, !quantize && !keep_linears, !options.int_dot_layout);
  std::vector<WeightSlot> slots = weight_slots(c, model->weights);

  // Dequantize tensor by tensor in parallel; every row decodes independently.
  // llama.cpp's converter permutes Q/K rows only for rope type 0 (llama); NEOX-style models (qwen2)
  // are stored in HF order already.
  const bool permute = gguf_permutes_rotary_rows(c.architecture);
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t i = 0; i < slots.size(); ++i) {
    WeightSlot s = slots[i];
    const GgufTensorInfo* t = infos[i];
    const bool table = s.role == WeightRole::TokenEmbedding || s.role == WeightRole::Output;
    if ((keep_linears && is_linear_role(s.role)) || (options.int_dot_layout && table)) {
      Matrix& m = table ? (s.role == WeightRole::Output ? model->weights.output : model->weights.token_embedding)
                        : linear_weight(model->weights, s.role, s.layer);
      const bool decoding = options.int_dot_layout && int_dot_supports(t->type);
      // 16-bit floats are read by the decode kernels as stored (half the bytes of an fp32 copy).
      const bool half_decoding =
          options.int_dot_layout && (t->type == GgmlType::F16 || t->type == GgmlType::BF16);
      if (decoding || half_decoding || (options.keep_gguf_types && !table && t->type != GgmlType::F32)) {
        const size_t row_bytes = ggml_row_bytes(t->type, s.cols);
        const uint8_t* first = t->data + first_rows[i] * row_bytes;
        const bool reorder = permute && (s.role == WeightRole::Wq || s.role == WeightRole::Wk);
        // The repack reads the mapped file directly; a copy is made only to reorder rows or to be kept.
        std::vector<uint8_t> rows;
        if (reorder || !decoding) rows.assign(first, first + s.rows * row_bytes);
        if (reorder)
          permute_row_bytes_meta_to_hf(rows.data(), s.rows, row_bytes, s.role == WeightRole::Wq ? c.n_heads : c.n_kv_heads);
        if (decoding) m.packed = pack_int_dot(int_dot_from_ggml(t->type, rows.empty() ? first : rows.data(), s.rows, s.cols));
        else if (half_decoding) m.packed = pack_half_rows_for_decoding(t->type, std::move(rows), s.rows, s.cols);
        else m.packed = pack_ggml_rows(t->type, std::move(rows), s.rows, s.cols);
        m.set_shape(s.rows, s.cols);
        continue;
      }
      // Stored as floats: held in fp32 like any other load (bf16 copies come with the session).
      m.resize(s.rows, s.cols);
      s.data = m.data.data();
    }
    Matrix* quantized = quantize && is_linear_role(s.role) ? &linear_weight(model->weights, s.role, s.layer) : nullptr;
    if (quantized) {
      quantized->data.resize(static_cast<size_t>(s.rows * s.cols));
      s.data = quantized->data.data();
    }
    const int64_t row_len = s.cols == 1 ? s.rows : s.cols, n_rows = s.cols == 1 ? 1 : s.rows;
    const uint64_t row_bytes = ggml_row_bytes(t->type, row_len);
    const uint8_t* first = t->data + first_rows[i] * row_bytes;
    for (int64_t r = 0; r < n_rows; ++r) dequantize_row(t->type, first + r * row_bytes, s.data + r * row_len, row_len);
    if (permute && (s.role == WeightRole::Wq || s.role == WeightRole::Bq))
      permute_rows_meta_to_hf(s.data, s.rows, s.cols, c.n_heads);
    if (permute && (s.role == WeightRole::Wk || s.role == WeightRole::Bk))
      permute_rows_meta_to_hf(s.data, s.rows, s.cols, c.n_kv_heads);
    if (quantized) quantize_linear_weight(*quantized, *quantize);
  }
  return model;
}

}  // namespace frugal
