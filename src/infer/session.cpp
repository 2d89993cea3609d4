#include "infer/session.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/half.h"
#include "kernels/attention.h"
#include "kernels/attention_train.h"
#include "kernels/int_dot.h"
#include "kernels/matmul.h"
#include "kernels/rmsnorm.h"
#include "model/adapter_linears.h"

namespace frugal {

namespace {
constexpr int64_t kMaxChunk = 512;  // long prompts run in chunks of this many tokens
}  // namespace

// Writes the chunk's keys and values into the cache at the session's position, then attends.
class InferenceSession::CacheAttention : public BlockAttention {
 public:
  CacheAttention(InferenceSession& s, int64_t T) : s_(s), T_(T) {}
  void forward(float* out, float* lse, const float* q, const float* k, const float* v,
               const LayerAttention& la) override {
    const LlamaConfig& c = s_.cfg_;
    const int64_t l = la.layer;
    const int64_t KV = c.kv_dim(), past = s_.position_;
    if (s_.bf16_cache_) {
      uint16_t* kc = &s_.k_cache16_[l][past * KV];
      uint16_t* vc = &s_.v_cache16_[l][past * KV];
      for (int64_t i = 0; i < T_ * KV; ++i) {
        kc[i] = float_to_bf16(k[i]);
        vc[i] = float_to_bf16(v[i]);
      }
    } else {
      std::memcpy(&s_.k_cache_[l][past * KV], k, sizeof(float) * T_ * KV);
      std::memcpy(&s_.v_cache_[l][past * KV], v, sizeof(float) * T_ * KV);
    }
    if (past == 0 && T_ > 1) {
      // A prompt from an empty cache is one causal block: the gemm-based training kernel does it
      // several times faster than the one-query-at-a-time decode kernel.
      attention_train_forward(out, lse, q, k, v, s_.segments_.data(),
                              {1, T_, c.n_heads, c.n_kv_heads, c.head_dim, la.scale, la.window});
    } else {
      AttentionDims dims{T_, past, c.n_heads, c.n_kv_heads, c.head_dim, KV, la.scale, la.window};
      if (s_.bf16_cache_) attention_forward(out, q, s_.k_cache16_[l].data(), s_.v_cache16_[l].data(), dims);
      else attention_forward(out, q, s_.k_cache_[l].data(), s_.v_cache_[l].data(), dims);
    }
  }

 private:
  InferenceSession& s_;
  int64_t T_;
};

InferenceSession::InferenceSession(Model& model, int64_t max_context, Precision precision, const LoraAdapter* adapter)
    : model_(model),
      cfg_(model.config),
      precision_(precision),
      adapter_(adapter),
      max_context_(max_context) {
  if (max_context <= 0) fail("context length must be positive");
  const size_t cache_values = static_cast<size_t>(max_context * cfg_.kv_dim());
  bf16_cache_ = precision_ == Precision::BF16;
  if (bf16_cache_) {
    k_cache16_.assign(cfg_.n_layers, std::vector<uint16_t>(cache_values));
    v_cache16_.assign(cfg_.n_layers, std::vector<uint16_t>(cache_values));
  } else {
    k_cache_.assign(cfg_.n_layers, std::vector<float>(cache_values));
    v_cache_.assign(cfg_.n_layers, std::vector<float>(cache_values));
  }
  // GGUF blocks kept compact are decoded with integer dot products (repacked once, here, when the
  // loader did not already); float weights get their bf16 copies.
  std::vector<Matrix*> matrices = {model_.weights.output.empty() ? &model_.weights.token_embedding : &model_.weights.output};
  for (LayerWeights& l : model_.weights.layers)
    for (Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) matrices.push_back(m);
  for (Matrix* m : matrices)
    if (!prepare_int_dot(*m) && precision_ == Precision::BF16) prepare_bf16(*m);
}

void InferenceSession::ensure_scratch(int64_t T) {
  if (T <= block_.capacity) return;
  block_.reserve(cfg_, T);
  x_.resize(static_cast<size_t>(T * cfg_.dim));
  xn_.resize(static_cast<size_t>(T * cfg_.dim));
  positions_.resize(T);
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
    const int64_t seq_len = position_ - done + n;  // the whole call's, for every chunk of it
    if (all_logits) run_chunk(tokens + done, T, true, done, seq_len);
    else run_chunk(tokens + done, T, false, last_chunk ? 0 : -1, seq_len);
  }
  return logits_;
}

// out_row: first logits row to write (all_logits), 0 for only the last token, -1 for none.
void InferenceSession::run_chunk(const int32_t* tokens, int64_t T, bool all_logits, int64_t out_row,
                                 int64_t seq_len) {
  ensure_scratch(T);
  // Tables that do not depend on the length are made once for the whole cache.
  if (!rope_ || !rope_->serves(cfg_, position_, T, seq_len)) {
    if (cfg_.rope_scaling.depends_on_length()) rope_ = std::make_unique<BlockRope>(cfg_, position_, T, seq_len);
    else rope_ = std::make_unique<BlockRope>(cfg_, 0, max_context_, seq_len);
  }
  const LlamaWeights& w = model_.weights;
  const int64_t C = cfg_.dim, V = cfg_.vocab_size;
  for (int64_t t = 0; t < T; ++t) positions_[t] = static_cast<int32_t>(position_ + t);
  embed_tokens(x_.data(), tokens, T, cfg_, w);
  PlainLinears plain(w, precision_);
  AdapterLinears adapted(w, precision_, {{0, T, adapter_}});
  BlockLinears& linears = adapter_ ? static_cast<BlockLinears&>(adapted) : plain;
  CacheAttention attention(*this, T);
  const BlockContext ctx{cfg_, *rope_->global, rope_->local.get(), positions_.data(), T, linears, attention};
  for (int64_t l = 0; l < cfg_.n_layers; ++l) block_forward(ctx, w.layers[l], l, x_.data(), x_.data(), block_);
  position_ += T;
  if (out_row < 0) return;
  // Only the rows we need go through the (large) output head.
  const int64_t first = all_logits ? 0 : T - 1, rows = T - first;
  rmsnorm_forward(xn_.data(), nullptr, &x_[first * C], w.output_norm.data(), rows, C, cfg_.rms_eps);
  matmul(&logits_[static_cast<size_t>(out_row) * V], xn_.data(), w.output_matrix(), rows, precision_);
}

}  // namespace frugal
