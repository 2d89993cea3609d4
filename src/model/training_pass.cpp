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

namespace frugal {

namespace {
void resize(std::vector<float>& v, int64_t n) { v.resize(static_cast<size_t>(n)); }

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
  const int64_t C = cfg_.dim, widest = std::max({C, cfg_.q_dim(), cfg_.ffn_dim});
  const size_t n_acts = options_.gradient_checkpointing ? 1 : static_cast<size_t>(cfg_.n_layers);
  acts_.clear();
  for (size_t i = 0; i < n_acts; ++i) {
    auto a = std::make_unique<BlockActivations>();
    a->reserve(cfg_, N);
    if (lora_)
      for (WeightRole r : lora_->config.targets) resize(a->lora_t[r], N * lora_->config.r);
    acts_.push_back(std::move(a));
  }
  grad_scratch_.reserve(cfg_, N);
  layer_inputs_.assign(cfg_.n_layers, std::vector<float>(static_cast<size_t>(N * C)));
  for (auto* v : {&x_, &x_final_norm_, &d_final_, &dx_}) resize(*v, N * C);
  resize(inv_final_, N);
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

// The block's projections: the base weight, plus LoRA's scaling * B A (x with dropout) where an
// adapter sits, keeping t = scaling * dropout(x) A^T for the backward pass.
class TrainingPass::Linears : public BlockLinears {
 public:
  Linears(TrainingPass& pass, bool training, uint64_t key) : p_(pass), training_(training), key_(key) {}

  void forward(float* y, const float* x, WeightRole role, int64_t l, int64_t N, BlockActivations& a) override {
    const Matrix& w = linear_weight(p_.model_.weights, role, l);
    matmul(y, x, w, N, p_.options_.precision);
    const LoraLayer* ll = p_.lora_ ? p_.lora_->find(role, l) : nullptr;
    if (!ll) return;
    const LoraAdapter& lora = *p_.lora_;
    const int64_t r = lora.config.r;
    float* t = a.lora_t[role].data();
    const float* xd = training_ ? p_.dropped(x, N, ll->in, role, l, key_) : x;
    gemm_f32(t, xd, lora.a(*ll), {N, r, ll->in, false, true, false});  // t = xd A^T
    const float s = lora.config.scaling();
    for (int64_t i = 0; i < N * r; ++i) t[i] *= s;
    gemm_f32(y, t, lora.b(*ll), {N, ll->out, r, false, true, true});   // y += t B^T
  }

  void backward(float* dx, const float* dy, const float* x, WeightRole role, int64_t l, int64_t N,
                BlockActivations& a) override {
    const Matrix& w = linear_weight(p_.model_.weights, role, l);
    matmul_backward_input(dx, dy, w, N, p_.options_.precision, true);
    if (p_.options_.full_finetune)
      matmul_backward_weight(linear_weight(p_.full_grads_, role, l).data.data(), dy, x, N, w.rows, w.cols);
    const LoraLayer* ll = p_.lora_ ? p_.lora_->find(role, l) : nullptr;
    if (!ll) return;
    const LoraAdapter& lora = *p_.lora_;
    const int64_t r = lora.config.r;
    const float s = lora.config.scaling();
    float* dA = p_.lora_grads_.data() + ll->a_offset;
    float* dB = p_.lora_grads_.data() + ll->b_offset;
    // dB += dy^T t            [out, r]
    gemm_f32(dB, dy, a.lora_t[role].data(), {ll->out, r, N, true, false, true});
    // u = s * dy B            [N, r]
    float* u = p_.lora_tmp_.data();
    gemm_f32(u, dy, lora.b(*ll), {N, r, ll->out, false, false, false});
    for (int64_t i = 0; i < N * r; ++i) u[i] *= s;
    // dA += u^T dropout(x)    [r, in]
    const float* xd = p_.dropped(x, N, ll->in, role, l, key_);
    gemm_f32(dA, u, xd, {r, ll->in, N, true, false, true});
    // dx += dropout'(u A)     [N, in]
    const float p = lora.config.dropout;
    if (p <= 0.0f || key_ == 0) {
      gemm_f32(dx, u, lora.a(*ll), {N, ll->in, r, false, false, true});
      return;
    }
    float* ua = p_.lora_dx_.data();
    gemm_f32(ua, u, lora.a(*ll), {N, ll->in, r, false, false, false});
    dropout_apply(dx, ua, N * ll->in, dropout_stream(key_, l, role), p, true);  // the same mask as forward
  }

 private:
  TrainingPass& p_;
  bool training_;
  uint64_t key_;
};

// Causal attention within each packed segment of the batch's rows (memory-efficient: the backward
// recomputes the probabilities from the saved log-sum-exp).
class TrainingPass::Attention : public BlockAttention {
 public:
  Attention(const LlamaConfig& c, const Batch& batch) : c_(c), batch_(batch) {}

  void forward(float* out, float* lse, const float* q, const float* k, const float* v,
               const LayerAttention& la) override {
    attention_train_forward(out, lse, q, k, v, batch_.segments.data(), dims(la));
  }
  void backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k, const float* v,
                const float* out, const float* lse, const LayerAttention& la) override {
    attention_train_backward(dq, dk, dv, dout, q, k, v, out, lse, batch_.segments.data(), dims(la));
  }

 private:
  TrainAttentionDims dims(const LayerAttention& la) const {
    return {batch_.B, batch_.T, c_.n_heads, c_.n_kv_heads, c_.head_dim, la.scale, la.window};
  }
  const LlamaConfig& c_;
  const Batch& batch_;
};

void TrainingPass::layer_forward(int64_t l, const float* x_in, float* x_out, BlockActivations& a, const Batch& batch,
                                 bool training, uint64_t key) {
  Linears linears(*this, training, key);
  Attention attention(cfg_, batch);
  const BlockContext ctx{cfg_, *rope_->global, rope_->local.get(), batch.positions.data(), N_, linears, attention};
  block_forward(ctx, model_.weights.layers[l], l, x_in, x_out, a);
}

// dx: gradient w.r.t. the layer's output on entry, w.r.t. its input on return.
void TrainingPass::layer_backward(int64_t l, float* dx, BlockActivations& a, const Batch& batch, uint64_t key) {
  Linears linears(*this, true, key);
  Attention attention(cfg_, batch);
  const BlockContext ctx{cfg_, *rope_->global, rope_->local.get(), batch.positions.data(), N_, linears, attention};
  block_backward(ctx, model_.weights.layers[l], l, layer_inputs_[l].data(), dx, a, grad_scratch_,
                 options_.full_finetune ? &full_grads_.layers[l] : nullptr);
}

// Looks the batch's tokens up in the embedding, into `x` [N, C] (buffers already sized by the
// caller, since `x` points into them), and makes sure the RoPE table covers the batch.
void TrainingPass::start_batch(const Batch& batch, float* x) {
  const int64_t N = batch.B * batch.T;
  // The longest sequence is max position + 1 (packed samples restart at 0), as transformers takes it.
  const int64_t seq_len = N > 0 ? *std::max_element(batch.positions.begin(), batch.positions.end()) + 1 : 1;
  if (!rope_ || !rope_->serves(cfg_, 0, seq_len, seq_len))
    rope_ = std::make_unique<BlockRope>(cfg_, 0, std::max<int64_t>(seq_len, 64), seq_len);
  embed_tokens(x, batch.tokens.data(), N, cfg_, model_.weights);
}

CrossEntropyResult TrainingPass::forward_backward(const Batch& batch, float loss_scale, uint64_t key) {
  const int64_t N = batch.B * batch.T, C = cfg_.dim;
  ensure_buffers(N);
  start_batch(batch, layer_inputs_[0].data());
  const LlamaWeights& w = model_.weights;
  // Forward: each layer's input is kept; the rest of its activations only without checkpointing.
  for (int64_t l = 0; l < cfg_.n_layers; ++l) {
    BlockActivations& a = *acts_[options_.gradient_checkpointing ? 0 : l];
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
    BlockActivations& a = *acts_[options_.gradient_checkpointing ? 0 : l];
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
      for (int64_t c = 0; c < C; ++c) row[c] += dx_[i * C + c] * cfg_.embedding_scale;
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
    BlockActivations& a = *acts_[0];
    std::memcpy(layer_inputs_[0].data(), x_.data(), sizeof(float) * N * C);  // scratch input
    acquire(l);
    layer_forward(l, layer_inputs_[0].data(), x_.data(), a, batch, false, 0);
    release(l);
  }
  rmsnorm_forward(x_final_norm_.data(), inv_final_.data(), x_.data(), w.output_norm.data(), N, C, cfg_.rms_eps);
  return cross_entropy_forward(x_final_norm_.data(), batch.targets.data(), N, w.output_matrix(), options_.precision);
}

}  // namespace frugal
