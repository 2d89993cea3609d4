#include "model/block.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/geglu.h"
#include "kernels/matmul.h"
#include "kernels/rmsnorm.h"
#include "kernels/swiglu.h"

namespace frugal {

namespace {
void resize(std::vector<float>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
}

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

void add_into(float* y, const float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}
}  // namespace

void BlockActivations::reserve(const LlamaConfig& c, int64_t N) {
  if (N <= capacity) return;
  capacity = N;
  const int64_t C = c.dim, HD = c.q_dim(), KD = c.kv_dim(), F = c.ffn_dim, H = c.n_heads;
  resize(xn1, N * C), resize(inv1, N), resize(q, N * HD), resize(k, N * KD), resize(v, N * KD);
  resize(att, N * HD), resize(lse, N * H), resize(x_mid, N * C), resize(xn2, N * C), resize(inv2, N);
  resize(g, N * F), resize(u, N * F), resize(h, N * F), resize(sub, N * C);
  if (c.qk_norm) resize(q_pre, N * HD), resize(k_pre, N * KD), resize(inv_q, N * H), resize(inv_k, N * c.n_kv_heads);
  if (c.post_norms) resize(attn_out, N * C), resize(mlp_out, N * C), resize(inv_pa, N), resize(inv_pf, N);
}

void BlockGradScratch::reserve(const LlamaConfig& c, int64_t N) {
  const int64_t C = c.dim, HD = c.q_dim(), KD = c.kv_dim(), F = c.ffn_dim;
  resize(dxn, N * C);
  for (auto* v : {&dh, &dg, &du}) resize(*v, N * F);
  for (auto* v : {&d_att, &dq}) resize(*v, N * HD);
  for (auto* v : {&dk, &dv}) resize(*v, N * KD);
  if (c.post_norms) resize(dsub, N * C);
  if (c.qk_norm) resize(dq_pre, N * HD), resize(dk_pre, N * KD);
}

void BlockLinears::backward(float*, const float*, const float*, WeightRole, int64_t, int64_t, BlockActivations&) {
  fail("internal: this driver's projections have no backward pass");
}

void BlockAttention::backward(float*, float*, float*, const float*, const float*, const float*, const float*,
                              const float*, const float*, const LayerAttention&) {
  fail("internal: this driver's attention has no backward pass");
}

void PlainLinears::forward(float* y, const float* x, WeightRole role, int64_t layer, int64_t N, BlockActivations&) {
  matmul(y, x, linear_weight(weights_, role, layer), N, precision_);
}

BlockRope::BlockRope(const LlamaConfig& c, int64_t first, int64_t count, int64_t seq_len)
    : length_key_(c.rope_scaling.length_key(seq_len)) {
  global = std::make_unique<RopeTable>(rope_frequencies(c.rope_scaling, c.rope_theta, c.head_dim, seq_len),
                                       c.head_dim, first, count);
  // Gemma 3's sliding layers rotate with their own base and without the global layers' scaling.
  if (c.sliding_window > 0 && c.rope_local_theta > 0 && c.rope_local_theta != c.rope_theta)
    local = std::make_unique<RopeTable>(rope_frequencies(RopeScaling{}, c.rope_local_theta, c.head_dim, seq_len),
                                        c.head_dim, first, count);
}

bool BlockRope::serves(const LlamaConfig& c, int64_t first, int64_t count, int64_t seq_len) const {
  return global->first_position <= first && first + count <= global->end_position() &&
         length_key_ == c.rope_scaling.length_key(seq_len);
}

void embed_tokens(float* x, const int32_t* tokens, int64_t N, const LlamaConfig& c, const LlamaWeights& w) {
  const int64_t C = c.dim;
  for (int64_t i = 0; i < N; ++i) {
    const int32_t tok = tokens[i];
    if (tok < 0 || tok >= c.vocab_size)
      fail("token id " + std::to_string(tok) + " is out of range (vocabulary " + std::to_string(c.vocab_size) + ")");
    float* out = x + i * C;
    if (w.token_embedding.packed) {  // a table held compactly for decoding: one row decoded
      w.token_embedding.packed->dequantize_row(tok, out);
    } else {
      const float* row = &w.token_embedding.data[static_cast<size_t>(tok) * C];
      std::copy(row, row + C, out);
    }
    if (c.embedding_scale != 1.0f) for (int64_t j = 0; j < C; ++j) out[j] *= c.embedding_scale;
  }
}

namespace {
const RopeTable& rope_of(const BlockContext& ctx, int64_t l) {
  return ctx.rope_local && ctx.config.layer_slides(l) ? *ctx.rope_local : ctx.rope;
}

LayerAttention attention_of(const LlamaConfig& c, int64_t l) {
  return {l, c.attention_scale_or_default(), c.layer_slides(l) ? c.sliding_window : 0};
}
}  // namespace

void block_forward(const BlockContext& ctx, const LayerWeights& lw, int64_t l, const float* x_in, float* x_out,
                   BlockActivations& a) {
  const LlamaConfig& c = ctx.config;
  const int64_t N = ctx.N, C = c.dim, F = c.ffn_dim, D = c.head_dim;
  BlockLinears& lin = ctx.linears;
  // Attention: x_mid = x_in + [post-norm] Wo attn(rope([qk-norm] Wq xn1 + bq), rope(...k...), Wv xn1 + bv)
  rmsnorm_forward(a.xn1.data(), a.inv1.data(), x_in, lw.attn_norm.data(), N, C, c.rms_eps);
  float* q = c.qk_norm ? a.q_pre.data() : a.q.data();
  float* k = c.qk_norm ? a.k_pre.data() : a.k.data();
  lin.forward(q, a.xn1.data(), WeightRole::Wq, l, N, a);
  lin.forward(k, a.xn1.data(), WeightRole::Wk, l, N, a);
  lin.forward(a.v.data(), a.xn1.data(), WeightRole::Wv, l, N, a);
  add_bias(q, lw.bq, N);
  add_bias(k, lw.bk, N);
  add_bias(a.v.data(), lw.bv, N);
  if (c.qk_norm) {  // each head's D values normalised on their own
    rmsnorm_forward(a.q.data(), a.inv_q.data(), q, lw.q_norm.data(), N * c.n_heads, D, c.rms_eps);
    rmsnorm_forward(a.k.data(), a.inv_k.data(), k, lw.k_norm.data(), N * c.n_kv_heads, D, c.rms_eps);
  }
  const RopeTable& rope = rope_of(ctx, l);
  rope_forward(a.q.data(), ctx.positions, N, c.n_heads, rope);
  rope_forward(a.k.data(), ctx.positions, N, c.n_kv_heads, rope);
  ctx.attention.forward(a.att.data(), a.lse.data(), a.q.data(), a.k.data(), a.v.data(), attention_of(c, l));
  if (c.post_norms) {
    lin.forward(a.attn_out.data(), a.att.data(), WeightRole::Wo, l, N, a);
    rmsnorm_forward(a.sub.data(), a.inv_pa.data(), a.attn_out.data(), lw.post_attn_norm.data(), N, C, c.rms_eps);
  } else {
    lin.forward(a.sub.data(), a.att.data(), WeightRole::Wo, l, N, a);
  }
  add_into(a.x_mid.data(), x_in, a.sub.data(), N * C);
  // MLP: x_out = x_mid + [post-norm] Down(act(Gate xn2) * Up xn2)
  rmsnorm_forward(a.xn2.data(), a.inv2.data(), a.x_mid.data(), lw.ffn_norm.data(), N, C, c.rms_eps);
  lin.forward(a.g.data(), a.xn2.data(), WeightRole::Gate, l, N, a);
  lin.forward(a.u.data(), a.xn2.data(), WeightRole::Up, l, N, a);
  if (c.activation == MlpActivation::GeluTanh) geglu_forward(a.h.data(), a.g.data(), a.u.data(), N * F);
  else swiglu_forward(a.h.data(), a.g.data(), a.u.data(), N * F);
  if (c.post_norms) {
    lin.forward(a.mlp_out.data(), a.h.data(), WeightRole::Down, l, N, a);
    rmsnorm_forward(a.sub.data(), a.inv_pf.data(), a.mlp_out.data(), lw.post_ffn_norm.data(), N, C, c.rms_eps);
  } else {
    lin.forward(a.sub.data(), a.h.data(), WeightRole::Down, l, N, a);
  }
  add_into(x_out, a.x_mid.data(), a.sub.data(), N * C);
}

void block_backward(const BlockContext& ctx, const LayerWeights& lw, int64_t l, const float* x_in, float* dx,
                    BlockActivations& a, BlockGradScratch& s, LayerWeights* gw) {
  const LlamaConfig& c = ctx.config;
  const int64_t N = ctx.N, C = c.dim, F = c.ffn_dim, D = c.head_dim;
  BlockLinears& lin = ctx.linears;
  const auto zero = [](std::vector<float>& v, int64_t n) { std::fill(v.begin(), v.begin() + n, 0.0f); };
  // Through a post-norm: the gradient of the sublayer's output before the norm, into s.dsub.
  const auto through_post_norm = [&](const float* dy, const std::vector<float>& out, const std::vector<float>& w,
                                     const std::vector<float>& inv, std::vector<float>* dw) -> const float* {
    if (!c.post_norms) return dy;
    zero(s.dsub, N * C);
    rmsnorm_backward(s.dsub.data(), dw ? dw->data() : nullptr, dy, out.data(), w.data(), inv.data(), N, C);
    return s.dsub.data();
  };
  // MLP
  const float* d_down = through_post_norm(dx, a.mlp_out, lw.post_ffn_norm, a.inv_pf, gw ? &gw->post_ffn_norm : nullptr);
  zero(s.dh, N * F);
  lin.backward(s.dh.data(), d_down, a.h.data(), WeightRole::Down, l, N, a);
  if (c.activation == MlpActivation::GeluTanh)
    geglu_backward(s.dg.data(), s.du.data(), s.dh.data(), a.g.data(), a.u.data(), N * F);
  else
    swiglu_backward(s.dg.data(), s.du.data(), s.dh.data(), a.g.data(), a.u.data(), N * F);
  zero(s.dxn, N * C);
  lin.backward(s.dxn.data(), s.dg.data(), a.xn2.data(), WeightRole::Gate, l, N, a);
  lin.backward(s.dxn.data(), s.du.data(), a.xn2.data(), WeightRole::Up, l, N, a);
  rmsnorm_backward(dx, gw ? gw->ffn_norm.data() : nullptr, s.dxn.data(), a.x_mid.data(), lw.ffn_norm.data(),
                   a.inv2.data(), N, C);  // dx now holds d(x_mid)
  // Attention
  const float* d_o = through_post_norm(dx, a.attn_out, lw.post_attn_norm, a.inv_pa, gw ? &gw->post_attn_norm : nullptr);
  zero(s.d_att, N * c.q_dim());
  lin.backward(s.d_att.data(), d_o, a.att.data(), WeightRole::Wo, l, N, a);
  const LayerAttention la = attention_of(c, l);
  ctx.attention.backward(s.dq.data(), s.dk.data(), s.dv.data(), s.d_att.data(), a.q.data(), a.k.data(), a.v.data(),
                         a.att.data(), a.lse.data(), la);
  const RopeTable& rope = rope_of(ctx, l);
  rope_backward(s.dq.data(), ctx.positions, N, c.n_heads, rope);
  rope_backward(s.dk.data(), ctx.positions, N, c.n_kv_heads, rope);
  float* dq = s.dq.data();
  float* dk = s.dk.data();
  if (c.qk_norm) {
    zero(s.dq_pre, N * c.q_dim());
    zero(s.dk_pre, N * c.kv_dim());
    rmsnorm_backward(s.dq_pre.data(), gw ? gw->q_norm.data() : nullptr, dq, a.q_pre.data(), lw.q_norm.data(),
                     a.inv_q.data(), N * c.n_heads, D);
    rmsnorm_backward(s.dk_pre.data(), gw ? gw->k_norm.data() : nullptr, dk, a.k_pre.data(), lw.k_norm.data(),
                     a.inv_k.data(), N * c.n_kv_heads, D);
    dq = s.dq_pre.data();
    dk = s.dk_pre.data();
  }
  if (gw) {
    bias_grad(gw->bq, dq, N);
    bias_grad(gw->bk, dk, N);
    bias_grad(gw->bv, s.dv.data(), N);
  }
  zero(s.dxn, N * C);
  lin.backward(s.dxn.data(), dq, a.xn1.data(), WeightRole::Wq, l, N, a);
  lin.backward(s.dxn.data(), dk, a.xn1.data(), WeightRole::Wk, l, N, a);
  lin.backward(s.dxn.data(), s.dv.data(), a.xn1.data(), WeightRole::Wv, l, N, a);
  rmsnorm_backward(dx, gw ? gw->attn_norm.data() : nullptr, s.dxn.data(), x_in, lw.attn_norm.data(), a.inv1.data(),
                   N, C);
}

}  // namespace frugal
