#include "train/sharded_trainables.h"

#include <malloc.h>

#include <algorithm>
#include <cmath>

#include "kernels/matmul.h"

namespace frugal {

namespace {
void free_storage(std::vector<float>& v) { std::vector<float>().swap(v); }
void free_storage(std::vector<uint16_t>& v) { std::vector<uint16_t>().swap(v); }
}  // namespace

ShardedTrainables::ShardedTrainables(std::vector<TrainableTensor> tensors, Communicator& comm, int zero_stage,
                                     bool bf16_copies)
    : comm_(comm), stage_(zero_stage), bf16_copies_(bf16_copies) {
  size_t state = 0, value_shards = 0;
  int64_t layers = 0;
  for (TrainableTensor& t : tensors) {
    Entry e;
    e.t = t;
    e.shard = stage_ == 0 ? ShardRange{0, t.count} : shard_range(t.count, comm_.rank(), comm_.size());
    e.layerwise = stage_ >= 2 && t.value_matrix && t.grad_matrix;
    e.state_at = state;
    state += e.shard.size();
    if (e.layerwise && stage_ == 3) {
      e.shard_at = value_shards;
      value_shards += e.shard.size();
    }
    count_ += t.count;
    layers = std::max(layers, t.layer + 1);
    entries_.push_back(e);
  }
  // The whole weights and gradients that become shards are released before the shards' state is
  // allocated, so the two never add up.
  value_shard_.resize(value_shards);
  by_layer_.resize(static_cast<size_t>(layers));
  for (size_t i = 0; i < entries_.size(); ++i) {
    Entry& e = entries_[i];
    if (!e.layerwise) continue;
    by_layer_[static_cast<size_t>(e.t.layer)].push_back(i);
    // Full gradients of a block exist only between its backward and its reduce-scatter.
    free_storage(e.t.grad_matrix->data);
    if (stage_ == 3) {
      const float* full = e.t.value_matrix->data.data();
      std::copy(full + e.shard.begin, full + e.shard.end, value_shard_.begin() + static_cast<std::ptrdiff_t>(e.shard_at));
      free_storage(e.t.value_matrix->data);
      free_storage(e.t.value_matrix->bf16);
    }
  }
  // The model's matrices came from the heap; hand the pages just freed back to the system.
  if (wants_hooks()) malloc_trim(0);
  m_.assign(state, 0.0f);
  v_.assign(state, 0.0f);
  if (stage_ >= 2) grad_shard_.assign(state, 0.0f);
}

bool ShardedTrainables::wants_hooks() const {
  return std::any_of(entries_.begin(), entries_.end(), [](const Entry& e) { return e.layerwise; });
}

void ShardedTrainables::start_step() { std::fill(grad_shard_.begin(), grad_shard_.end(), 0.0f); }

void ShardedTrainables::reduce_scatter_into_shard(Entry& e) {
  float* grads = e.layerwise ? e.t.grad_matrix->data.data() : e.t.grads;
  reduce_buffer_.resize(e.shard.size());
  comm_.reduce_scatter_sum(std::span<const float>(grads, e.t.count), reduce_buffer_);
  float* acc = grad_shard_.data() + e.state_at;
  for (size_t i = 0; i < e.shard.size(); ++i) acc[i] += reduce_buffer_[i];
}

void ShardedTrainables::micro_batch_done() {
  if (stage_ < 2) return;
  for (Entry& e : entries_) {
    if (e.layerwise) continue;
    reduce_scatter_into_shard(e);
    std::fill(e.t.grads, e.t.grads + e.t.count, 0.0f);  // the next micro-batch accumulates afresh
  }
}

std::vector<float> ShardedTrainables::take_spare(size_t count) {
  for (size_t i = 0; i < spare_.size(); ++i)
    if (spare_[i].capacity() >= count) {
      std::vector<float> v = std::move(spare_[i]);
      spare_.erase(spare_.begin() + static_cast<std::ptrdiff_t>(i));
      v.resize(count);
      return v;
    }
  return std::vector<float>(count);
}

void ShardedTrainables::put_spare(std::vector<float>& v) {
  if (v.capacity() == 0) return;
  spare_.push_back(std::move(v));
  v = std::vector<float>();
}

void ShardedTrainables::acquire_gradients(int64_t layer) {
  for (size_t i : by_layer_[static_cast<size_t>(layer)]) {
    std::vector<float>& g = entries_[i].t.grad_matrix->data;
    if (g.empty()) g = take_spare(entries_[i].t.count);
    std::fill(g.begin(), g.end(), 0.0f);
  }
}

void ShardedTrainables::gradients_ready(int64_t layer) {
  if (stage_ < 2) return;
  for (size_t i : by_layer_[static_cast<size_t>(layer)]) {
    reduce_scatter_into_shard(entries_[i]);
    put_spare(entries_[i].t.grad_matrix->data);
  }
}

void ShardedTrainables::reduce_gradients() {
  if (stage_ >= 2 || !comm_.distributed()) return;
  for (Entry& e : entries_) comm_.all_reduce_sum(std::span<float>(e.t.grads, e.t.count));
}

std::vector<std::span<float>> ShardedTrainables::grad_views() {
  std::vector<std::span<float>> views;
  for (Entry& e : entries_) {
    if (stage_ >= 2)
      views.emplace_back(grad_shard_.data() + e.state_at, e.shard.size());
    else
      views.emplace_back(e.t.grads, e.t.count);
  }
  return views;
}

double ShardedTrainables::clip(double max_norm) {
  std::vector<std::span<float>> views = grad_views();
  if (stage_ < 2) return clip_grad_norm(views, max_norm);  // every rank holds the same summed gradients
  std::vector<std::span<const float>> read(views.begin(), views.end());
  const double local = global_grad_norm(read);
  double squares = local * local;
  comm_.all_reduce_sum(std::span<double>(&squares, 1));
  const double norm = std::sqrt(squares);
  scale_grads(views, clip_coefficient(norm, max_norm));
  return norm;
}

float* ShardedTrainables::shard_values(Entry& e) {
  if (e.layerwise && stage_ == 3) return value_shard_.data() + e.shard_at;
  return e.t.values + e.shard.begin;
}

std::vector<ParamSegment> ShardedTrainables::segments() {
  std::vector<ParamSegment> segs;
  for (Entry& e : entries_) {
    const float* grads = stage_ >= 2 ? grad_shard_.data() + e.state_at : e.t.grads + e.shard.begin;
    segs.push_back({shard_values(e), grads, m_.data() + e.state_at, v_.data() + e.state_at, e.shard.size()});
  }
  return segs;
}

void ShardedTrainables::update(const AdamWHyper& hyper, int64_t step) {
  adamw_update(segments(), hyper, step);
  if (stage_ == 0 || !comm_.distributed()) return;
  for (Entry& e : entries_)
    if (!(e.layerwise && stage_ == 3)) comm_.all_gather(std::span<float>(e.t.values, e.t.count));
}

bool ShardedTrainables::all_finite() {
  auto finite = [](const float* p, size_t n) {
    int bad = 0;
#pragma omp parallel for reduction(| : bad) schedule(static) if (n > (size_t{1} << 20))
    for (size_t i = 0; i < n; ++i) bad |= !std::isfinite(p[i]);
    return bad == 0;
  };
  int64_t bad = 0;
  for (Entry& e : entries_) bad |= !finite(shard_values(e), e.shard.size());
  bad |= !finite(m_.data(), m_.size()) || !finite(v_.data(), v_.size());
  comm_.all_reduce_max(std::span<int64_t>(&bad, 1));
  return bad == 0;
}

void ShardedTrainables::stream(TrainableArray array, const TrainableSink* sink) {
  const bool root = comm_.is_root();
  for (Entry& e : entries_) {
    const size_t n = e.t.count;
    std::span<const float> mine;  // this rank's part when it is a shard; empty when held whole
    const float* whole = nullptr;
    if (array == TrainableArray::Values) {
      if (e.layerwise && stage_ == 3)
        mine = {value_shard_.data() + e.shard_at, e.shard.size()};
      else
        whole = e.t.values;
    } else {
      const std::vector<float>& state = array == TrainableArray::ExpAvg ? m_ : v_;
      if (stage_ == 0)
        whole = state.data() + e.state_at;
      else
        mine = {state.data() + e.state_at, e.shard.size()};
    }
    if (whole) {
      if (root && sink) (*sink)(std::span<const float>(whole, n));
      continue;
    }
    if (root) gather_buffer_.resize(n);
    comm_.gather_to_root(mine, root ? std::span<float>(gather_buffer_.data(), n) : std::span<float>(), n);
    if (root && sink) (*sink)(std::span<const float>(gather_buffer_.data(), n));
  }
  if (root) free_storage(gather_buffer_);
}

void ShardedTrainables::release_optimizer_state() {
  free_storage(m_);
  free_storage(v_);
  free_storage(grad_shard_);
  free_storage(reduce_buffer_);
}

void ShardedTrainables::scatter(std::vector<float>& values, std::vector<float>& m, std::vector<float>& v) {
  for (std::vector<float>* a : {&values, &m, &v}) {
    a->resize(count_);
    comm_.broadcast(std::span<float>(*a));
  }
  size_t at = 0;
  for (Entry& e : entries_) {
    const auto from = static_cast<std::ptrdiff_t>(at + e.shard.begin);
    if (e.layerwise && stage_ == 3) {
      std::copy(values.begin() + from, values.begin() + from + static_cast<std::ptrdiff_t>(e.shard.size()),
                value_shard_.begin() + static_cast<std::ptrdiff_t>(e.shard_at));
    } else {
      std::copy(values.begin() + static_cast<std::ptrdiff_t>(at),
                values.begin() + static_cast<std::ptrdiff_t>(at + e.t.count), e.t.values);
    }
    for (auto [state, in] : {std::pair{&m_, &m}, std::pair{&v_, &v}})
      std::copy(in->begin() + from, in->begin() + from + static_cast<std::ptrdiff_t>(e.shard.size()),
                state->begin() + static_cast<std::ptrdiff_t>(e.state_at));
    at += e.t.count;
  }
}

void ShardedTrainables::acquire_weights(int64_t layer) {
  if (stage_ != 3) return;
  for (size_t i : by_layer_[static_cast<size_t>(layer)]) {
    Entry& e = entries_[i];
    Matrix& w = *e.t.value_matrix;
    if (!w.data.empty()) continue;  // already gathered
    w.data = take_spare(e.t.count);
    std::copy(value_shard_.begin() + static_cast<std::ptrdiff_t>(e.shard_at),
              value_shard_.begin() + static_cast<std::ptrdiff_t>(e.shard_at + e.shard.size()),
              w.data.begin() + static_cast<std::ptrdiff_t>(e.shard.begin));
    comm_.all_gather(w.data);
    if (bf16_copies_) prepare_bf16(w);
  }
}

void ShardedTrainables::release_weights(int64_t layer) {
  if (stage_ != 3) return;
  for (size_t i : by_layer_[static_cast<size_t>(layer)]) {
    Entry& e = entries_[i];
    put_spare(e.t.value_matrix->data);
    free_storage(e.t.value_matrix->bf16);
  }
}

void ShardedTrainables::gather_all_weights() {
  for (size_t l = 0; l < by_layer_.size(); ++l) acquire_weights(static_cast<int64_t>(l));
}

void ShardedTrainables::release_all_weights() {
  for (size_t l = 0; l < by_layer_.size(); ++l) release_weights(static_cast<int64_t>(l));
}

}  // namespace frugal
