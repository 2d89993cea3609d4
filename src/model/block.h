// THE transformer block, once, for every driver: the training pass (activations saved for the
// backward pass, or recomputed under checkpointing) and the inference session (a KV cache, prefill
// and decode) call these two functions. What differs between the drivers is behind two small
// interfaces: how a projection is applied (plain matmul, or with LoRA and its dropout) and how
// attention reaches its keys and values (the batch itself, or the cache). What differs between
// model families is data in the LlamaConfig, never a second copy of this code.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "core/precision.h"
#include "kernels/rope.h"
#include "model/llama_config.h"
#include "model/weights.h"

namespace frugal {

// The tensors one block computes for N tokens; the backward pass needs all of them. The inference
// session uses the same struct as its scratch (shapes in comments; D = head_dim).
struct BlockActivations {
  int64_t capacity = 0;             // tokens the buffers hold
  std::vector<float> xn1, inv1;     // [N, C], [N]   attention norm output and 1/rms
  std::vector<float> q, k, v;       // [N, H*D], [N, KVH*D] x2   after bias and RoPE (q, k)
  std::vector<float> att, lse;      // [N, H*D], [N, H]   attention output, log-sum-exp
  std::vector<float> x_mid;         // [N, C]   residual stream after attention
  std::vector<float> xn2, inv2;     // [N, C], [N]
  std::vector<float> g, u, h;       // [N, F] x3   gate, up, act(gate) * up
  std::vector<float> sub;           // [N, C]   a sublayer's output as it joins the residual
  // Only for the features that need them:
  std::vector<float> q_pre, k_pre;  // [N, H*D], [N, KVH*D]   before the q/k norms (qk_norm)
  std::vector<float> inv_q, inv_k;  // [N*H], [N*KVH]   their 1/rms
  std::vector<float> attn_out, mlp_out;  // [N, C] x2   sublayer outputs before their post-norms (post_norms)
  std::vector<float> inv_pa, inv_pf;     // [N] x2
  std::map<WeightRole, std::vector<float>> lora_t;  // [N, r]   kept by a LoRA driver per adapted projection
  void reserve(const LlamaConfig& c, int64_t N);   // grows the buffers to N tokens
};

// How a driver applies the block's linear projections (Wq ... Down) to N tokens.
class BlockLinears {
 public:
  virtual ~BlockLinears() = default;
  // y [N, out] = x [N, in] W^T (+ whatever the driver adds, e.g. LoRA); y is overwritten.
  virtual void forward(float* y, const float* x, WeightRole role, int64_t layer, int64_t N, BlockActivations& a) = 0;
  // dx [N, in] += dy W (+ the adapter's part); weight gradients are the driver's business.
  virtual void backward(float* dx, const float* dy, const float* x, WeightRole role, int64_t layer, int64_t N,
                        BlockActivations& a);
};

// What the block asks of one layer's attention.
struct LayerAttention {
  int64_t layer;
  float scale;     // scores are q.k * scale
  int64_t window;  // sliding window (keys a query sees, itself included); 0: every earlier key
};

// How a driver runs attention for N query tokens: q [N, H*D], k and v [N, KVH*D] of these tokens,
// already rotated. The driver decides which keys each query sees (packed segments, a cache).
class BlockAttention {
 public:
  virtual ~BlockAttention() = default;
  // out [N, H*D]; lse [N, H] may be written (the training backward needs it).
  virtual void forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const LayerAttention& la) = 0;
  // dq, dk, dv overwritten from dout and the forward's tensors.
  virtual void backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, const LayerAttention& la);
};

// What a block call needs besides its weights.
struct BlockContext {
  const LlamaConfig& config;
  const RopeTable& rope;
  const RopeTable* rope_local;  // sliding layers' RoPE when its base differs (Gemma 3), else null
  const int32_t* positions;     // [N]
  int64_t N;
  BlockLinears& linears;
  BlockAttention& attention;
};

// The RoPE tables of a forward: `global` every layer's (or the global ones'), `local` the sliding
// layers' when their base differs. They cover positions [first, first + count) of a forward whose
// longest sequence has seq_len tokens (max position + 1), which dynamic NTK and LongRoPE scaling
// depend on, as transformers' rotary embedding does over one forward. Drivers own them.
struct BlockRope {
  std::unique_ptr<RopeTable> global, local;
  BlockRope(const LlamaConfig& c, int64_t first, int64_t count, int64_t seq_len);
  // Whether these tables are the ones for that range and length.
  bool serves(const LlamaConfig& c, int64_t first, int64_t count, int64_t seq_len) const;

 private:
  int64_t length_key_;  // RopeScaling::length_key of the seq_len they were made for
};

// Token embeddings (times the family's embedding scale) into x [N, C]; ids must be in range.
void embed_tokens(float* x, const int32_t* tokens, int64_t N, const LlamaConfig& c, const LlamaWeights& w);

// x_out [N, C] = block(x_in [N, C]); every tensor the backward needs is left in `a`.
void block_forward(const BlockContext& ctx, const LayerWeights& lw, int64_t layer, const float* x_in, float* x_out,
                   BlockActivations& a);

// Scratch for the backward pass of one block, sized for N tokens.
struct BlockGradScratch {
  std::vector<float> dxn, dh, dg, du, d_att, dq, dk, dv, dsub, dq_pre, dk_pre;
  void reserve(const LlamaConfig& c, int64_t N);
};

// dx [N, C]: the gradient of the block's output on entry, of its input on return. `a` holds the
// forward's tensors for x_in; norm and bias gradients go to `grads` when it is not null (full
// fine-tuning), projection gradients are the BlockLinears' concern.
void block_backward(const BlockContext& ctx, const LayerWeights& lw, int64_t layer, const float* x_in, float* dx,
                    BlockActivations& a, BlockGradScratch& s, LayerWeights* grads);

// The inference driver's projections: the base weights as they are (no adapter).
class PlainLinears : public BlockLinears {
 public:
  PlainLinears(const LlamaWeights& weights, Precision precision) : weights_(weights), precision_(precision) {}
  void forward(float* y, const float* x, WeightRole role, int64_t layer, int64_t N, BlockActivations& a) override;

 private:
  const LlamaWeights& weights_;
  Precision precision_;
};

}  // namespace frugal
