#include "model/weights.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace frugal {

void LlamaWeights::allocate(const LlamaConfig& c, bool linear) {
  token_embedding.resize(c.vocab_size, c.dim);
  output_norm.assign(c.dim, 0.0f);
  if (!c.tied_output) output.resize(c.vocab_size, c.dim);
  layers.assign(c.n_layers, LayerWeights{});
  const auto mat = [linear](Matrix& m, int64_t rows, int64_t cols) { linear ? m.resize(rows, cols) : m.set_shape(rows, cols); };
  for (LayerWeights& l : layers) {
    l.attn_norm.assign(c.dim, 0.0f);
    l.ffn_norm.assign(c.dim, 0.0f);
    mat(l.wq, c.q_dim(), c.dim);
    mat(l.wk, c.kv_dim(), c.dim);
    mat(l.wv, c.kv_dim(), c.dim);
    mat(l.wo, c.dim, c.q_dim());
    mat(l.gate, c.ffn_dim, c.dim);
    mat(l.up, c.ffn_dim, c.dim);
    mat(l.down, c.dim, c.ffn_dim);
    if (c.qkv_bias) {
      l.bq.assign(c.q_dim(), 0.0f);
      l.bk.assign(c.kv_dim(), 0.0f);
      l.bv.assign(c.kv_dim(), 0.0f);
    }
  }
}

std::vector<WeightSlot> weight_slots(const LlamaConfig& c, LlamaWeights& w) {
  std::vector<WeightSlot> s;
  auto mat = [&](WeightRole r, int64_t layer, Matrix& m) { s.push_back({r, layer, m.data.data(), m.rows, m.cols}); };
  auto vec = [&](WeightRole r, int64_t layer, std::vector<float>& v) {
    s.push_back({r, layer, v.data(), static_cast<int64_t>(v.size()), 1});
  };
  mat(WeightRole::TokenEmbedding, -1, w.token_embedding);
  vec(WeightRole::OutputNorm, -1, w.output_norm);
  if (!c.tied_output) mat(WeightRole::Output, -1, w.output);
  for (int64_t i = 0; i < c.n_layers; ++i) {
    LayerWeights& l = w.layers[i];
    vec(WeightRole::AttnNorm, i, l.attn_norm);
    mat(WeightRole::Wq, i, l.wq);
    mat(WeightRole::Wk, i, l.wk);
    mat(WeightRole::Wv, i, l.wv);
    mat(WeightRole::Wo, i, l.wo);
    vec(WeightRole::FfnNorm, i, l.ffn_norm);
    mat(WeightRole::Gate, i, l.gate);
    mat(WeightRole::Up, i, l.up);
    mat(WeightRole::Down, i, l.down);
    if (c.qkv_bias) {
      vec(WeightRole::Bq, i, l.bq);
      vec(WeightRole::Bk, i, l.bk);
      vec(WeightRole::Bv, i, l.bv);
    }
  }
  return s;
}

bool is_linear_role(WeightRole r) {
  return r == WeightRole::Wq || r == WeightRole::Wk || r == WeightRole::Wv || r == WeightRole::Wo ||
         r == WeightRole::Gate || r == WeightRole::Up || r == WeightRole::Down;
}

int64_t linear_in_features(const LlamaConfig& c, WeightRole role) {
  return role == WeightRole::Wo ? c.q_dim() : role == WeightRole::Down ? c.ffn_dim : c.dim;
}

int64_t linear_out_features(const LlamaConfig& c, WeightRole role) {
  switch (role) {
    case WeightRole::Wq: return c.q_dim();
    case WeightRole::Wk: case WeightRole::Wv: return c.kv_dim();
    case WeightRole::Gate: case WeightRole::Up: return c.ffn_dim;
    default: return c.dim;
  }
}

Matrix& linear_weight(LlamaWeights& w, WeightRole role, int64_t layer) {
  LayerWeights& l = w.layers.at(static_cast<size_t>(layer));
  switch (role) {
    case WeightRole::Wq: return l.wq;
    case WeightRole::Wk: return l.wk;
    case WeightRole::Wv: return l.wv;
    case WeightRole::Wo: return l.wo;
    case WeightRole::Gate: return l.gate;
    case WeightRole::Up: return l.up;
    case WeightRole::Down: return l.down;
    default: fail("internal: weight role is not a linear layer");
  }
}

const Matrix& linear_weight(const LlamaWeights& w, WeightRole role, int64_t layer) {
  return linear_weight(const_cast<LlamaWeights&>(w), role, layer);
}

void quantize_linear_weight(Matrix& m, Quant4Type type, bool double_quant) {
  if (m.compact()) return;
  m.q4 = std::make_shared<Quant4Matrix>(quantize_matrix_4bit(m.data.data(), m.rows, m.cols, type, double_quant));
  std::vector<float>().swap(m.data);
  std::vector<uint16_t>().swap(m.bf16);
}

void Matrix::dequantize_into(float* out) const {
  if (q4)
    q4->dequantize(out);
  else if (packed)
    packed->dequantize(out);
  else
    std::copy(data.begin(), data.end(), out);
}

void quantize_linear_weight(Matrix& m, const LinearQuantization& q) {
  if (!q.int8) return quantize_linear_weight(m, q.type, q.double_quant);
  if (m.compact()) return;
  m.packed = pack_int8_rowwise(m.data.data(), m.rows, m.cols);
  std::vector<float>().swap(m.data);
  std::vector<uint16_t>().swap(m.bf16);
}

void quantize_linear_weights(LlamaWeights& w, const LinearQuantization& q) {
  for (LayerWeights& l : w.layers)
    for (Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) quantize_linear_weight(*m, q);
}

void quantize_linear_weights(LlamaWeights& w, Quant4Type type, bool double_quant) {
  for (LayerWeights& l : w.layers)
    for (Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) quantize_linear_weight(*m, type, double_quant);
}

int64_t linear_weight_bytes(const LlamaWeights& w) {
  int64_t total = 0;
  for (const LayerWeights& l : w.layers)
    for (const Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down})
      total += m->q4       ? m->q4->bytes()
               : m->packed ? m->packed->bytes()
                           : static_cast<int64_t>(m->data.size() * sizeof(float) + m->bf16.size() * sizeof(uint16_t));
  return total;
}

namespace {
// Rows of one head are (D/2 pairs) x 2 in one layout and 2 x (D/2) in the other: a per-head transpose.
// Rows are moved as bytes, so quantized rows (GGUF blocks) permute like fp32 ones.
void permute_rows(uint8_t* data, int64_t rows, size_t row_bytes, int64_t n_heads, bool meta_to_hf) {
  const int64_t per_head = rows / n_heads, half = per_head / 2;
  std::vector<uint8_t> tmp(static_cast<size_t>(per_head) * row_bytes);
  for (int64_t h = 0; h < n_heads; ++h) {
    uint8_t* head = data + static_cast<size_t>(h * per_head) * row_bytes;
    for (int64_t i = 0; i < half; ++i)
      for (int64_t j = 0; j < 2; ++j) {
        int64_t meta_row = 2 * i + j, hf_row = j * half + i;
        int64_t from = meta_to_hf ? meta_row : hf_row, to = meta_to_hf ? hf_row : meta_row;
        std::memcpy(&tmp[static_cast<size_t>(to) * row_bytes], head + static_cast<size_t>(from) * row_bytes, row_bytes);
      }
    std::memcpy(head, tmp.data(), tmp.size());
  }
}
}  // namespace

void permute_rows_meta_to_hf(float* data, int64_t rows, int64_t cols, int64_t n_heads) {
  permute_rows(reinterpret_cast<uint8_t*>(data), rows, sizeof(float) * static_cast<size_t>(cols), n_heads, true);
}
void permute_rows_hf_to_meta(float* data, int64_t rows, int64_t cols, int64_t n_heads) {
  permute_rows(reinterpret_cast<uint8_t*>(data), rows, sizeof(float) * static_cast<size_t>(cols), n_heads, false);
}
void permute_row_bytes_meta_to_hf(uint8_t* data, int64_t rows, size_t row_bytes, int64_t n_heads) {
  permute_rows(data, rows, row_bytes, n_heads, true);
}

}  // namespace frugal
