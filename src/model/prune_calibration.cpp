#include "model/prune_calibration.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/error.h"
#include "kernels/attention_train.h"
#include "kernels/gemm.h"
#include "kernels/matmul.h"

namespace frugal {

LinearInput linear_input_of(WeightRole role) {
  switch (role) {
    case WeightRole::Wq:
    case WeightRole::Wk:
    case WeightRole::Wv:
      return LinearInput::AttentionIn;
    case WeightRole::Wo:
      return LinearInput::AttentionOut;
    case WeightRole::Gate:
    case WeightRole::Up:
      return LinearInput::FfnIn;
    case WeightRole::Down:
      return LinearInput::FfnHidden;
    default:
      fail("internal: weight role is not a linear layer");
  }
}

void InputStatistics::add(const float* x, int64_t N) {
  const int64_t w = width;
  if (sq_norm.empty()) sq_norm.assign(static_cast<size_t>(w), 0.0);
  for (int64_t t = 0; t < N; ++t)
    for (int64_t j = 0; j < w; ++j) sq_norm[j] += static_cast<double>(x[t * w + j]) * x[t * w + j];
  if (want_hessian) {
    // One sample's x^T x in fp32 (its N products per entry), summed over samples in fp64.
    std::vector<float> part(static_cast<size_t>(w * w));  // [w, w]
    gemm_f32(part.data(), x, x, {w, w, N, true, false, false});
    if (xtx.empty()) xtx.assign(static_cast<size_t>(w * w), 0.0);
    for (int64_t i = 0; i < w * w; ++i) xtx[i] += part[i];
  }
  samples += 1;
  tokens += N;
}

namespace {

// The projections as stored, in fp32; the first projection reading each input hands it to the
// statistics (q, k and v see the same tensor: it is counted once).
class CollectingLinears : public BlockLinears {
 public:
  CollectingLinears(const LlamaWeights& w, std::map<LinearInput, InputStatistics>& stats) : w_(w), stats_(stats) {}
  void forward(float* y, const float* x, WeightRole role, int64_t layer, int64_t N, BlockActivations&) override {
    matmul(y, x, linear_weight(w_, role, layer), N, Precision::F32);
    if (role != WeightRole::Wq && role != WeightRole::Wo && role != WeightRole::Gate && role != WeightRole::Down)
      return;
    auto it = stats_.find(linear_input_of(role));
    if (it != stats_.end()) it->second.add(x, N);
  }

 private:
  const LlamaWeights& w_;
  std::map<LinearInput, InputStatistics>& stats_;
};

// Causal attention over one sample (a batch of one row, one segment).
class SampleAttention : public BlockAttention {
 public:
  SampleAttention(const LlamaConfig& c, const int32_t* segments, int64_t T) : c_(c), segments_(segments), T_(T) {}
  void forward(float* out, float* lse, const float* q, const float* k, const float* v,
               const LayerAttention& la) override {
    attention_train_forward(out, lse, q, k, v, segments_,
                            {1, T_, c_.n_heads, c_.n_kv_heads, c_.head_dim, la.scale, la.window});
  }

 private:
  const LlamaConfig& c_;
  const int32_t* segments_;
  int64_t T_;
};

}  // namespace

LayerCalibration::LayerCalibration(const Model& model, const std::vector<std::vector<int32_t>>& samples)
    : model_(model) {
  const LlamaConfig& c = model.config;
  int64_t longest = 0;
  for (const std::vector<int32_t>& s : samples) {
    if (s.empty()) fail("calibration", "", "an empty sample");
    for (int32_t id : s)
      if (id < 0 || id >= c.vocab_size)
        fail("calibration", "",
             "token id " + std::to_string(id) + " is outside the vocabulary (" + std::to_string(c.vocab_size) +
                 " tokens)");
    const int64_t T = static_cast<int64_t>(s.size());
    longest = std::max(longest, T);
    lengths_.push_back(T);
    x_.emplace_back(static_cast<size_t>(T * c.dim));
    embed_tokens(x_.back().data(), s.data(), T, c, model.weights);
  }
  out_.resize(static_cast<size_t>(longest * c.dim));
  positions_.resize(static_cast<size_t>(longest));
  std::iota(positions_.begin(), positions_.end(), 0);
  segments_.assign(static_cast<size_t>(longest), 0);
  acts_.reserve(c, longest);
}

LayerCalibration::~LayerCalibration() = default;

void LayerCalibration::run(int64_t layer, BlockLinears& linears, float* out, int64_t sample) {
  const LlamaConfig& c = model_.config;
  const int64_t T = lengths_[sample];
  if (!rope_ || rope_length_ != T) {  // each sample is its own sequence, as transformers runs it
    rope_ = std::make_unique<BlockRope>(c, 0, T, T);
    rope_length_ = T;
  }
  SampleAttention attention(c, segments_.data(), T);
  const BlockContext ctx{c, *rope_->global, rope_->local.get(), positions_.data(), T, linears, attention};
  block_forward(ctx, model_.weights.layers[layer], layer, x_[sample].data(), out, acts_);
}

void LayerCalibration::collect(int64_t layer, std::map<LinearInput, InputStatistics>& stats) {
  CollectingLinears linears(model_.weights, stats);
  for (size_t s = 0; s < x_.size(); ++s) run(layer, linears, out_.data(), static_cast<int64_t>(s));
}

void LayerCalibration::advance(int64_t layer) {
  PlainLinears linears(model_.weights, Precision::F32);
  for (size_t s = 0; s < x_.size(); ++s) {
    run(layer, linears, out_.data(), static_cast<int64_t>(s));
    std::memcpy(x_[s].data(), out_.data(), sizeof(float) * x_[s].size());
  }
}

}  // namespace frugal
