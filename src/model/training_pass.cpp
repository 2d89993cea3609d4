#include "model/training_pass.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "core/counter_rng.h"
#include "core/error.h"
#include "kernels/attention_train.h"
#include "kernels/dropout.h"
#include "kernels/gemm.h"
#include "kernels/matmul.h"
#include "kernels/rmsnorm.h"
#include "kernels/swiglu.h"

namespace frugal {

// What the backward pass of one layer needs, for N tokens (shapes in comments).
struct LayerActivations {
  std::vector<float> xn1, inv1;     // [N, C], [N]   attention norm output and 1/rms
  std::vector<float> q, k, v;       // [N, H*D], [N, KVH*D] x2   after RoPE (q, k)
  std::vector<float> att, lse;      // [N, H*D], [N, H]   attention output, log-sum-exp
  std::vector<float> x_mid;         // [N, C]   residual stream after attention
  std::vector<float> xn2, inv2;     // [N, C], [N]
  std::vector<float> g, u, h;       // [N, F] x3   gate, up, silu(gate) * up
  std::map<WeightRole, std::vector<float>> lora_t;  // [N, r]   scaling * dropout(x) A^T per adapted layer
};

namespace {
void resize(std::vector<float>& v, int64_t n) { v.resize(static_cast<size_t>(n)); }

void add_bias(float* y, const std::vector<float>& b, int64_t N) {
  if (b.empty()) return;
  const int64_t n = static_cast<int64_t>(b.size());
  for (int64_t t = 0; t < N; ++t)
    for (int64_t i = 0; i < n; ++i) y[t * n + i] += b[i];
}

void bias_grad(std::vector<float>& db, const float* dy, int64_t N) {
  if (db.empty()) return;
  const int64_t n = static_cast<int64_t>(db.size());
  for (int64_t t = 0; t < N; ++t)
    for (int64_t i = 0; i < n; ++i) db[i] += dy[t * n + i];
}

uint64_t dropout_stream(uint64_t key, int64_t layer, WeightRole role) {
  return splitmix64(key ^ (static_cast<uint64_t>(layer) << 8) ^ static_cast<uint64_t>(role));
}
}  // namespace

TrainingPass::TrainingPass(Model& model, LoraAdapter* lora, const TrainingPassOptions& options)
    : model_(model), lora_(lora), options_(options), cfg_(model.config) {
  if (!lora_ && !options_.full_finetune) fail("internal: a training pass needs a LoRA adapter or full fine-tuning");
  if (lora_) lora_grads_.assign(lora_->values.size(), 0.0f);
  if (options_.full_finetune) full_grads_.allocate(cfg_);
  if (options_.precision == Precision::BF16) weights_changed();
}

TrainingPass::~TrainingPass() = default;

void TrainingPass::weights_changed() {
  if (options_.precision != Precision::BF16) return;
  LlamaWeights& w = model_.weights;
  for (LayerWeights& l : w.layers)
    for (Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) {
      if (options_.full_finetune) m->bf16.clear();
      prepare_bf16(*m);
    }
  Matrix& head = w.output.empty() ? w.token_embedding : w.output;
  if (options_.full_finetune) head.bf16.clear();
  prepare_bf16(head);
}

void TrainingPass::zero_grad() {
  std::fill(lora_grads_.begin(), lora_grads_.end(), 0.0f);
  if (!options_.full_finetune) return;
  for (const WeightSlot& s : weight_slots(cfg_, full_grads_))
    if (s.data) std::fill(s.data, s.data + s.rows * s.cols, 0.0f);
}

void TrainingPass::ensure_layer_grads(int64_t l) {
  if (!options_.full_finetune) return;
  LayerWeights& g = full_grads_.layers[l];
  for (Matrix* m : {&g.wq, &g.wk, &g.wv, &g.wo, &g.gate, &g.up, &g.down})
    if (m->data.empty()) m->data.assign(static_cast<size_t>(m->rows * m->cols), 0.0f);
}

void TrainingPass::ensure_buffers(int64_t N) {
  N_ = N;
  if (N <= capacity_) return;
  capacity_ = N;
  const int64_t C = cfg_.dim, HD = cfg_.q_dim(), KD = cfg_.kv_dim(), F = cfg_.ffn_dim, H = cfg_.n_heads;
  const int64_t widest = std::max({C, HD, F});
  const size_t n_acts = options_.gradient_checkpointing ? 1 : static_cast<size_t>(cfg_.n_layers);
  acts_.clear();
  for (size_t i = 0; i < n_acts; ++i) {
    auto a = std::make_unique<LayerActivations>();
    resize(a->xn1, N * C), resize(a->inv1, N), resize(a->q, N * HD), resize(a->k, N * KD), resize(a->v, N * KD);
    resize(a->att, N * HD), resize(a->lse, N * H), resize(a->x_mid, N * C), resize(a->xn2, N * C), resize(a->inv2, N);
    resize(a->g, N * F), resize(a->u, N * F), resize(a->h, N * F);
    if (lora_)
      for (WeightRole r : lora_->config.targets) resize(a->lora_t[r], N * lora_->config.r);
    acts_.push_back(std::move(a));
  }
  layer_inputs_.assign(cfg_.n_layers, std::vector<float>(static_cast<size_t>(N * C)));
  for (auto* v : {&x_, &x_final_norm_, &d_final_, &dx_, &dxn_}) resize(*v, N * C);
  resize(inv_final_, N);
  for (auto* v : {&dh_, &dg_, &du_}) resize(*v, N * F);
  for (auto* v : {&d_att_, &dq_}) resize(*v, N * HD);
  for (auto* v : {&dk_, &dv_}) resize(*v, N * KD);
  resize(tmp_, N * widest);
  resize(drop_buf_, N * widest);
  resize(lora_dx_, N * widest);
  if (lora_) resize(lora_tmp_, N * lora_->config.r);
}

// dropout(x) for the LoRA branch: the mask is regenerated from (key, layer, role, index).
const float* TrainingPass::dropped(const float* x, int64_t n, int64_t width, WeightRole role, int64_t l, uint64_t key) {
  const float p = lora_->config.dropout;
  if (p <= 0.0f || key == 0) return x;
  dropout_apply(drop_buf_.data(), x, n * width, dropout_stream(key, l, role), p, false);
  return drop_buf_.data();
}

void TrainingPass::linear_forward(float* y, const float* x, WeightRole role, int64_t l, LayerActivations& a,
                                  bool training, uint64_t key) {
  const Matrix& w = linear_weight(model_.weights, role, l);
  const int64_t N = N_;
  matmul(y, x, w, N, options_.precision);
  const LoraLayer* ll = lora_ ? lora_->find(role, l) : nullptr;
  if (!ll) return;
  const int64_t r = lora_->config.r;
  float* t = a.lora_t[role].data();
  const float* xd = training ? dropped(x, N, ll->in, role, l, key) : x;
  gemm_f32(t, xd, lora_->a(*ll), {N, r, ll->in, false, true, false});  // t = xd A^T
  const float s = lora_->config.scaling();
  for (int64_t i = 0; i < N * r; ++i) t[i] *= s;
  gemm_f32(y, t, lora_->b(*ll), {N, ll->out, r, false, true, true});   // y += t B^T
}

void TrainingPass::linear_backward(float* dx, const float* dy, const float* x, WeightRole role, int64_t l,
                                   LayerActivations& a, uint64_t key) {
  const Matrix& w = linear_weight(model_.weights, role, l);
  const int64_t N = N_;
  matmul_backward_input(dx, dy, w, N, options_.precision, true);
  if (options_.full_finetune)
    matmul_backward_weight(linear_weight(full_grads_, role, l).data.data(), dy, x, N, w.rows, w.cols);
  const LoraLayer* ll = lora_ ? lora_->find(role, l) : nullptr;
  if (!ll) return;
  const int64_t r = lora_->config.r;
  const float s = lora_->config.scaling();
  float* dA = lora_grads_.data() + ll->a_offset;
  float* dB = lora_grads_.data() + ll->b_offset;
  // dB += dy^T t            [out, r]
  gemm_f32(dB, dy, a.lora_t[role].data(), {ll->out, r, N, true, false, true});
  // u = s * dy B            [N, r]
  float* u = lora_tmp_.data();
  gemm_f32(u, dy, lora_->b(*ll), {N, r, ll->out, false, false, false});
  for (int64_t i = 0; i < N * r; ++i) u[i] *= s;
  // dA += u^T dropout(x)    [r, in]
  const float* xd = dropped(x, N, ll->in, role, l, key);
  gemm_f32(dA, u, xd, {r, ll->in, N, true, false, true});
  // dx += dropout'(u A)     [N, in]
  const float p = lora_->config.dropout;
  if (p <= 0.0f || key == 0) {
    gemm_f32(dx, u, lora_->a(*ll), {N, ll->in, r, false, false, true});
    return;
  }
  float* ua = lora_dx_.data();
  gemm_f32(ua, u, lora_->a(*ll), {N, ll->in, r, false, false, false});
  dropout_apply(dx, ua, N * ll->in, dropout_stream(key, l, role), p, true);  // the same mask as forward
}

void TrainingPass::layer_forward(int64_t l, const float* x_in, float* x_out, LayerActivations& a, const Batch& batch,
                                 bool training, uint64_t key) {
  const LayerWeights& lw = model_.weights.layers[l];
  const int64_t N = N_, C = cfg_.dim, F = cfg_.ffn_dim;
  rmsnorm_forward(a.xn1.data(), a.inv1.data(), x_in, lw.attn_norm.data(), N, C, cfg_.rms_eps);
  linear_forward(a.q.data(), a.xn1.data(), WeightRole::Wq, l, a, training, key);
  linear_forward(a.k.data(), a.xn1.data(), WeightRole::Wk, l, a, training, key);
  linear_forward(a.v.data(), a.xn1.data(), WeightRole::Wv, l, a, training, key);
  add_bias(a.q.data(), lw.bq, N);
  add_bias(a.k.data(), lw.bk, N);
  add_bias(a.v.data(), lw.bv, N);
  rope_forward(a.q.data(), batch.positions.data(), N, cfg_.n_heads, *rope_);
  rope_forward(a.k.data(), batch.positions.data(), N, cfg_.n_kv_heads, *rope_);
  attention_train_forward(a.att.data(), a.lse.data(), a.q.data(), a.k.data(), a.v.data(), batch.segments.data(),
                          {batch.B, batch.T, cfg_.n_heads, cfg_.n_kv_heads, cfg_.head_dim});
  linear_forward(tmp_.data(), a.att.data(), WeightRole::Wo, l, a, training, key);
  for (int64_t i = 0; i < N * C; ++i) a.x_mid[i] = x_in[i] + tmp_[i];
  rmsnorm_forward(a.xn2.data(), a.inv2.data(), a.x_mid.data(), lw.ffn_norm.data(), N, C, cfg_.rms_eps);
  linear_forward(a.g.data(), a.xn2.data(), WeightRole::Gate, l, a, training, key);
  linear_forward(a.u.data(), a.xn2.data(), WeightRole::Up, l, a, training, key);
  swiglu_forward(a.h.data(), a.g.data(), a.u.data(), N * F);
  linear_forward(tmp_.data(), a.h.data(), WeightRole::Down, l, a, training, key);
  for (int64_t i = 0; i < N * C; ++i) x_out[i] = a.x_mid[i] + tmp_[i];
}

// dx: gradient w.r.t. the layer's output on entry, w.r.t. its input on return.
void TrainingPass::layer_backward(int64_t l, float* dx, LayerActivations& a, const Batch& batch, uint64_t key) {
  const LayerWeights& lw = model_.weights.layers[l];
  LayerWeights* gw = options_.full_finetune ? &full_grads_.layers[l] : nullptr;
  const int64_t N = N_, C = cfg_.dim, F = cfg_.ffn_dim;
  // MLP: x_out = x_mid + Down(silu(Gate xn2) * Up xn2)
  std::fill(dh_.begin(), dh_.begin() + N * F, 0.0f);
  linear_backward(dh_.data(), dx, a.h.data(), WeightRole::Down, l, a, key);
  swiglu_backward(dg_.data(), du_.data(), dh_.data(), a.g.data(), a.u.data(), N * F);
  std::fill(dxn_.begin(), dxn_.begin() + N * C, 0.0f);
  linear_backward(dxn_.data(), dg_.data(), a.xn2.data(), WeightRole::Gate, l, a, key);
  linear_backward(dxn_.data(), du_.data(), a.xn2.data(), WeightRole::Up, l, a, key);
  rmsnorm_backward(dx, gw ? gw->ffn_norm.data() : nullptr, dxn_.data(), a.x_mid.data(), lw.ffn_norm.data(),
                   a.inv2.data(), N, C);  // dx now holds d(x_mid)
  // Attention: x_mid = x_in + Wo(attn(rope(Wq xn1), rope(Wk xn1), Wv xn1))
  std::fill(d_att_.begin(), d_att_.begin() + N * cfg_.q_dim(), 0.0f);
  linear_backward(d_att_.data(), dx, a.att.data(), WeightRole::Wo, l, a, key);
  attention_train_backward(dq_.data(), dk_.data(), dv_.data(), d_att_.data(), a.q.data(), a.k.data(), a.v.data(),
                           a.att.data(), a.lse.data(), batch.segments.data(),
                           {batch.B, batch.T, cfg_.n_heads, cfg_.n_kv_heads, cfg_.head_dim});
  rope_backward(dq_.data(), batch.positions.data(), N, cfg_.n_heads, *rope_);
  rope_backward(dk_.data(), batch.positions.data(), N, cfg_.n_kv_heads, *rope_);
  if (gw) {
    bias_grad(gw->bq, dq_.data(), N);
    bias_grad(gw->bk, dk_.data(), N);
    bias_grad(gw->bv, dv_.data(), N);
  }
  std::fill(dxn_.begin(), dxn_.begin() + N * C, 0.0f);
  linear_backward(dxn_.data(), dq_.data(), a.xn1.data(), WeightRole::Wq, l, a, key);
  linear_backward(dxn_.data(), dk_.data(), a.xn1.data(), WeightRole::Wk, l, a, key);
  linear_backward(dxn_.data(), dv_.data(), a.xn1.data(), WeightRole::Wv, l, a, key);
  rmsnorm_backward(dx, gw ? gw->attn_norm.data() : nullptr, dxn_.data(), layer_inputs_[l].data(), lw.attn_norm.data(),
                   a.inv1.data(), N, C);
}

// Looks the batch's tokens up in the embedding, into `x` [N, C] (buffers already sized by the
// caller, since `x` points into them), and makes sure the RoPE table covers the batch.
void TrainingPass::start_batch(const Batch& batch, float* x) {
  const int64_t N = batch.B * batch.T, C = cfg_.dim;
  if (!rope_ || rope_->positions() < batch.T)
    rope_ = std::make_unique<RopeTable>(std::max<int64_t>(batch.T, 64), cfg_.head_dim, cfg_.rope_theta,
                                        cfg_.rope_linear_factor);
  const Matrix& emb = model_.weights.token_embedding;
  for (int64_t i = 0; i < N; ++i) {
    const int32_t tok = batch.tokens[i];
    if (tok < 0 || tok >= cfg_.vocab_size) fail("token id " + std::to_string(tok) + " out of range in batch");
    std::memcpy(x + i * C, &emb.data[static_cast<size_t>(tok) * C], sizeof(float) * C);
  }
}

CrossEntropyResult TrainingPass::forward_backward(const Batch& batch, float loss_scale, uint64_t key) {
  const int64_t N = batch.B * batch.T, C = cfg_.dim;
  ensure_buffers(N);
  start_batch(batch, layer_inputs_[0].data());
  const LlamaWeights& w = model_.weights;
  // Forward: each layer's input is kept; the rest of its activations only without checkpointing.
  for (int64_t l = 0; l < cfg_.n_layers; ++l) {
    LayerActivations& a = *acts_[options_.gradient_checkpointing ? 0 : l];
    float* out = l + 1 < cfg_.n_layers ? layer_inputs_[l + 1].data() : x_.data();
    acquire(l);
    layer_forward(l, layer_inputs_[l].data(), out, a, batch, true, key);
    release(l);
  }
  rmsnorm_forward(x_final_norm_.data(), inv_final_.data(), x_.data(), w.output_norm.data(), N, C, cfg_.rms_eps);
  float* d_head = nullptr;
  if (options_.full_finetune) d_head = (cfg_.tied_output ? full_grads_.token_embedding : full_grads_.output).data.data();
  CrossEntropyResult loss = cross_entropy_forward_backward(d_final_.data(), d_head, x_final_norm_.data(),
                                                           batch.targets.data(), N, w.output_matrix(), loss_scale,
                                                           options_.precision);
  std::fill(dx_.begin(), dx_.begin() + N * C, 0.0f);
  rmsnorm_backward(dx_.data(), options_.full_finetune ? full_grads_.output_norm.data() : nullptr, d_final_.data(),
                   x_.data(), w.output_norm.data(), inv_final_.data(), N, C);
  for (int64_t l = cfg_.n_layers - 1; l >= 0; --l) {
    LayerActivations& a = *acts_[options_.gradient_checkpointing ? 0 : l];
    acquire(l);
    if (options_.gradient_checkpointing)  // same forward code, same dropout key: same activations
      layer_forward(l, layer_inputs_[l].data(), tmp_.data(), a, batch, true, key);
    if (hooks_ && options_.full_finetune)
      hooks_->acquire_gradients(l);
    else
      ensure_layer_grads(l);
    layer_backward(l, dx_.data(), a, batch, key);
    release(l);
    if (hooks_ && options_.full_finetune) hooks_->gradients_ready(l);
  }
  if (options_.full_finetune) {
    float* de = full_grads_.token_embedding.data.data();
    for (int64_t i = 0; i < N; ++i) {
      if (batch.segments[i] < 0) continue;
      float* row = de + static_cast<size_t>(batch.tokens[i]) * C;
      for (int64_t c = 0; c < C; ++c) row[c] += dx_[i * C + c];
    }
  }
  return loss;
}

CrossEntropyResult TrainingPass::evaluate(const Batch& batch) {
  const int64_t N = batch.B * batch.T, C = cfg_.dim;
  ensure_buffers(N);
  start_batch(batch, x_.data());
  const LlamaWeights& w = model_.weights;
  for (int64_t l = 0; l < cfg_.n_layers; ++l) {
    LayerActivations& a = *acts_[0];
    std::memcpy(layer_inputs_[0].data(), x_.data(), sizeof(float) * N * C);  // scratch input
    acquire(l);
    layer_forward(l, layer_inputs_[0].data(), x_.data(), a, batch, false, 0);
    release(l);
  }
  rmsnorm_forward(x_final_norm_.data(), inv_final_.data(), x_.data(), w.output_norm.data(), N, C, cfg_.rms_eps);
  return cross_entropy_forward(x_final_norm_.data(), batch.targets.data(), N, w.output_matrix(), options_.precision);
}

}  // namespace frugal
