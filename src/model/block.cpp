#include "model/block.h"

#include <algorithm>

#include "core/error.h"
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
}

void BlockGradScratch::reserve(const LlamaConfig& c, int64_t N) {
  const int64_t C = c.dim, HD = c.q_dim(), KD = c.kv_dim(), F = c.ffn_dim;
  resize(dxn, N * C);
  for (auto* v : {&dh, &dg, &du}) resize(*v, N * F);
  for (auto* v : {&d_att, &dq}) resize(*v, N * HD);
  for (auto* v : {&dk, &dv}) resize(*v, N * KD);
}

void BlockLinears::backward(float*, const float*, const float*, WeightRole, int64_t, int64_t, BlockActivations&) {
  fail("internal: this driver's projections have no backward pass");
}

void BlockAttention::backward(float*, float*, float*, const float*, const float*, const float*, const float*,
                              const float*, const float*, int64_t) {
  fail("internal: this driver's attention has no backward pass");
}

void PlainLinears::forward(float* y, const float* x, WeightRole role, int64_t layer, int64_t N, BlockActivations&) {
  matmul(y, x, linear_weight(weights_, role, layer), N, precision_);
}

void block_forward(const BlockContext& ctx, const LayerWeights& lw, int64_t l, const float* x_in, float* x_out,
                   BlockActivations& a) {
  const LlamaConfig& c = ctx.config;
  const int64_t N = ctx.N, C = c.dim, F = c.ffn_dim;
  BlockLinears& lin = ctx.linears;
  // Attention: x_mid = x_in + Wo(attn(rope(Wq xn1 + bq), rope(Wk xn1 + bk), Wv xn1 + bv))
  rmsnorm_forward(a.xn1.data(), a.inv1.data(), x_in, lw.attn_norm.data(), N, C, c.rms_eps);
  lin.forward(a.q.data(), a.xn1.data(), WeightRole::Wq, l, N, a);
  lin.forward(a.k.data(), a.xn1.data(), WeightRole::Wk, l, N, a);
  lin.forward(a.v.data(), a.xn1.data(), WeightRole::Wv, l, N, a);
  add_bias(a.q.data(), lw.bq, N);
  add_bias(a.k.data(), lw.bk, N);
  add_bias(a.v.data(), lw.bv, N);
  rope_forward(a.q.data(), ctx.positions, N, c.n_heads, ctx.rope);
  rope_forward(a.k.data(), ctx.positions, N, c.n_kv_heads, ctx.rope);
  ctx.attention.forward(a.att.data(), a.lse.data(), a.q.data(), a.k.data(), a.v.data(), l);
  lin.forward(a.sub.data(), a.att.data(), WeightRole::Wo, l, N, a);
  add_into(a.x_mid.data(), x_in, a.sub.data(), N * C);
  // MLP: x_out = x_mid + Down(silu(Gate xn2) * Up xn2)
  rmsnorm_forward(a.xn2.data(), a.inv2.data(), a.x_mid.data(), lw.ffn_norm.data(), N, C, c.rms_eps);
  lin.forward(a.g.data(), a.xn2.data(), WeightRole::Gate, l, N, a);
  lin.forward(a.u.data(), a.xn2.data(), WeightRole::Up, l, N, a);
  swiglu_forward(a.h.data(), a.g.data(), a.u.data(), N * F);
  lin.forward(a.sub.data(), a.h.data(), WeightRole::Down, l, N, a);
  add_into(x_out, a.x_mid.data(), a.sub.data(), N * C);
}

void block_backward(const BlockContext& ctx, const LayerWeights& lw, int64_t l, const float* x_in, float* dx,
                    BlockActivations& a, BlockGradScratch& s, LayerWeights* gw) {
  const LlamaConfig& c = ctx.config;
  const int64_t N = ctx.N, C = c.dim, F = c.ffn_dim;
  BlockLinears& lin = ctx.linears;
  // MLP
  std::fill(s.dh.begin(), s.dh.begin() + N * F, 0.0f);
  lin.backward(s.dh.data(), dx, a.h.data(), WeightRole::Down, l, N, a);
  swiglu_backward(s.dg.data(), s.du.data(), s.dh.data(), a.g.data(), a.u.data(), N * F);
  std::fill(s.dxn.begin(), s.dxn.begin() + N * C, 0.0f);
  lin.backward(s.dxn.data(), s.dg.data(), a.xn2.data(), WeightRole::Gate, l, N, a);
  lin.backward(s.dxn.data(), s.du.data(), a.xn2.data(), WeightRole::Up, l, N, a);
  rmsnorm_backward(dx, gw ? gw->ffn_norm.data() : nullptr, s.dxn.data(), a.x_mid.data(), lw.ffn_norm.data(),
                   a.inv2.data(), N, C);  // dx now holds d(x_mid)
  // Attention
  std::fill(s.d_att.begin(), s.d_att.begin() + N * c.q_dim(), 0.0f);
  lin.backward(s.d_att.data(), dx, a.att.data(), WeightRole::Wo, l, N, a);
  ctx.attention.backward(s.dq.data(), s.dk.data(), s.dv.data(), s.d_att.data(), a.q.data(), a.k.data(), a.v.data(),
                         a.att.data(), a.lse.data(), l);
  rope_backward(s.dq.data(), ctx.positions, N, c.n_heads, ctx.rope);
  rope_backward(s.dk.data(), ctx.positions, N, c.n_kv_heads, ctx.rope);
  if (gw) {
    bias_grad(gw->bq, s.dq.data(), N);
    bias_grad(gw->bk, s.dk.data(), N);
    bias_grad(gw->bv, s.dv.data(), N);
  }
  std::fill(s.dxn.begin(), s.dxn.begin() + N * C, 0.0f);
  lin.backward(s.dxn.data(), s.dq.data(), a.xn1.data(), WeightRole::Wq, l, N, a);
  lin.backward(s.dxn.data(), s.dk.data(), a.xn1.data(), WeightRole::Wk, l, N, a);
  lin.backward(s.dxn.data(), s.dv.data(), a.xn1.data(), WeightRole::Wv, l, N, a);
  rmsnorm_backward(dx, gw ? gw->attn_norm.data() : nullptr, s.dxn.data(), x_in, lw.attn_norm.data(), a.inv1.data(),
                   N, C);
}

}  // namespace frugal
