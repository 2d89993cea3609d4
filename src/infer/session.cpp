#include "infer/session.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/attention_train.h"
#include "kernels/matmul.h"
#include "kernels/rmsnorm.h"
#include "kernels/swiglu.h"

namespace frugal {

namespace {
constexpr int64_t kMaxChunk = 512;  // long prompts run in chunks of this many tokens

void add_bias(float* y, const std::vector<float>& b, int64_t T) {
  if (b.empty()) return;
  const int64_t n = static_cast<int64_t>(b.size());
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < n; ++i) y[t * n + i] += b[i];
}
}  // namespace

InferenceSession::InferenceSession(Model& model, int64_t max_context, Precision precision)
    : model_(model),
      cfg_(model.config),
      precision_(precision),
      max_context_(max_context),
      rope_(max_context, model.config.head_dim, model.config.rope_theta, model.config.rope_linear_factor) {
  if (max_context <= 0) fail("context length must be positive");
  k_cache_.assign(cfg_.n_layers, std::vector<float>(static_cast<size_t>(max_context * cfg_.kv_dim())));
  v_cache_.assign(cfg_.n_layers, std::vector<float>(static_cast<size_t>(max_context * cfg_.kv_dim())));
  if (precision_ == Precision::BF16) {
    for (LayerWeights& l : model_.weights.layers)
      for (Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) prepare_bf16(*m);
    prepare_bf16(model_.weights.output.empty() ? model_.weights.token_embedding : model_.weights.output);
  }
}

void InferenceSession::ensure_scratch(int64_t T) {
  if (T <= scratch_T_) return;
  scratch_T_ = T;
  const auto sz = [&](int64_t w) { return static_cast<size_t>(T * w); };
  x_.resize(sz(cfg_.dim));
  xn_.resize(sz(cfg_.dim));
  tmp_.resize(sz(cfg_.dim));
  q_.resize(sz(cfg_.q_dim()));
  att_.resize(sz(cfg_.q_dim()));
  k_.resize(sz(cfg_.kv_dim()));
  v_.resize(sz(cfg_.kv_dim()));
  g_.resize(sz(cfg_.ffn_dim));
  u_.resize(sz(cfg_.ffn_dim));
  positions_.resize(T);
  lse_.resize(sz(cfg_.n_heads));
  segments_.assign(static_cast<size_t>(T), 0);
}

const std::vector<float>& InferenceSession::forward(const int32_t* tokens, int64_t n, bool all_logits) {
  if (n <= 0) fail("forward: no tokens");
  if (position_ + n > max_context_)
    fail("context full: " + std::to_string(position_ + n) + " tokens exceed the context of " + std::to_string(max_context_));
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= cfg_.vocab_size)
      fail("token id " + std::to_string(tokens[i]) + " is out of range (vocabulary " + std::to_string(cfg_.vocab_size) + ")");
  logits_.resize(static_cast<size_t>((all_logits ? n : 1) * cfg_.vocab_size));
  for (int64_t done = 0; done < n; done += kMaxChunk) {
    const int64_t T = std::min(kMaxChunk, n - done);
    const bool last_chunk = done + T == n;
    if (all_logits) run_chunk(tokens + done, T, true, done);
    else run_chunk(tokens + done, T, false, last_chunk ? 0 : -1);
  }
  return logits_;
}

// out_row: first logits row to write (all_logits), 0 for only the last token, -1 for none.
void InferenceSession::run_chunk(const int32_t* tokens, int64_t T, bool all_logits, int64_t out_row) {
  ensure_scratch(T);
  const LlamaWeights& w = model_.weights;
  const int64_t C = cfg_.dim, KV = cfg_.kv_dim(), F = cfg_.ffn_dim, V = cfg_.vocab_size;
  for (int64_t t = 0; t < T; ++t) {
    positions_[t] = static_cast<int32_t>(position_ + t);
    std::memcpy(&x_[t * C], &w.token_embedding.data[static_cast<size_t>(tokens[t]) * C], sizeof(float) * C);
  }
  for (int64_t l = 0; l < cfg_.n_layers; ++l) {
    const LayerWeights& lw = w.layers[l];
    rmsnorm_forward(xn_.data(), nullptr, x_.data(), lw.attn_norm.data(), T, C, cfg_.rms_eps);
    matmul(q_.data(), xn_.data(), lw.wq, T, precision_);
    matmul(k_.data(), xn_.data(), lw.wk, T, precision_);
    matmul(v_.data(), xn_.data(), lw.wv, T, precision_);
    add_bias(q_.data(), lw.bq, T);
    add_bias(k_.data(), lw.bk, T);
    add_bias(v_.data(), lw.bv, T);
    rope_forward(q_.data(), positions_.data(), T, cfg_.n_heads, rope_);
    rope_forward(k_.data(), positions_.data(), T, cfg_.n_kv_heads, rope_);
    std::memcpy(&k_cache_[l][position_ * KV], k_.data(), sizeof(float) * T * KV);
    std::memcpy(&v_cache_[l][position_ * KV], v_.data(), sizeof(float) * T * KV);
    if (position_ == 0 && T > 1) {
      // A prompt from an empty cache is one causal block: the gemm-based training kernel does it
      // several times faster than the one-query-at-a-time decode kernel.
      attention_train_forward(att_.data(), lse_.data(), q_.data(), k_.data(), v_.data(), segments_.data(),
                              {1, T, cfg_.n_heads, cfg_.n_kv_heads, cfg_.head_dim});
    } else {
      AttentionDims dims{T, position_, cfg_.n_heads, cfg_.n_kv_heads, cfg_.head_dim, KV};
      attention_forward(att_.data(), q_.data(), k_cache_[l].data(), v_cache_[l].data(), dims);
    }
    matmul(tmp_.data(), att_.data(), lw.wo, T, precision_);
    for (int64_t i = 0; i < T * C; ++i) x_[i] += tmp_[i];

    rmsnorm_forward(xn_.data(), nullptr, x_.data(), lw.ffn_norm.data(), T, C, cfg_.rms_eps);
    matmul(g_.data(), xn_.data(), lw.gate, T, precision_);
    matmul(u_.data(), xn_.data(), lw.up, T, precision_);
    swiglu_forward(g_.data(), g_.data(), u_.data(), T * F);
    matmul(tmp_.data(), g_.data(), lw.down, T, precision_);
    for (int64_t i = 0; i < T * C; ++i) x_[i] += tmp_[i];
  }
  position_ += T;
  if (out_row < 0) return;
  // Only the rows we need go through the (large) output head.
  const int64_t first = all_logits ? 0 : T - 1, rows = T - first;
  rmsnorm_forward(xn_.data(), nullptr, &x_[first * C], w.output_norm.data(), rows, C, cfg_.rms_eps);
  matmul(&logits_[static_cast<size_t>(out_row) * V], xn_.data(), w.output_matrix(), rows, precision_);
}

}  // namespace frugal
