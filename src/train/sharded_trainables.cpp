#include "train/sharded_trainables.h"

#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "kernels/matmul.h"
#include "core/error.h"
#include "train/optimizer_8bit.h"
#include "train/optimizer_sgd.h"

namespace frugal {

namespace {
void free_storage(std::vector<float>& v) { std::vector<float>().swap(v); }
void free_storage(std::vector<uint16_t>& v) { std::vector<uint16_t>().swap(v); }
template <class T, class A>
void free_state(std::vector<T, A>& v) {
  v.clear();
  v.shrink_to_fit();  // keeps the allocator: a file-backed array is unmapped
}
}  // namespace

ShardedTrainables::ShardedTrainables(std::vector<TrainableTensor> tensors, Communicator& comm, int zero_stage,
                                     bool bf16_copies, OptimizerChoice optimizer)
    : comm_(comm), stage_(zero_stage), bf16_copies_(bf16_copies), optim_(optimizer) {
  const bool eight_bit = optim_.kind == OptimKind::AdamW8bit;
  if (eight_bit && stage_ != 0)
    fail("zero_stage", std::to_string(stage_),
         "optim: adamw_8bit quantizes blocks along whole tensors and needs zero_stage 0");
  size_t state = 0, value_shards = 0, codes = 0, blocks = 0, grad_shards = 0;
  int64_t layers = 0;
  for (TrainableTensor& t : tensors) {
    Entry e;
    e.t = t;
    e.shard = stage_ == 0 ? ShardRange{0, t.count} : shard_range(t.count, comm_.rank(), comm_.size());
    e.layerwise = stage_ >= 2 && t.value_matrix && t.grad_matrix;
    e.quantized = eight_bit && adam8bit_quantized(t.count);
    e.state_at = state;
    e.code_at = codes;
    e.block_at = blocks;
    if (e.quantized) {
      codes += t.count;
      blocks += adam8bit_blocks(t.count);
    } else {
      state += e.shard.size();
    }
    e.grad_at = grad_shards;
    grad_shards += e.shard.size();
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
  const bool has_m = optim_.kind != OptimKind::Sgd || optim_.momentum != 0.0;
  const bool has_v = optim_.kind != OptimKind::Sgd;
  const std::string paged_dir = optim_.paged ? optim_.paged_dir : "";
  m_ = StateFloats(FileBackedAllocator<float>(paged_dir)), v_ = StateFloats(FileBackedAllocator<float>(paged_dir));
  absmax1_ = StateFloats(FileBackedAllocator<float>(paged_dir)), absmax2_ = StateFloats(FileBackedAllocator<float>(paged_dir));
  q1_ = StateBytes(FileBackedAllocator<uint8_t>(paged_dir)), q2_ = StateBytes(FileBackedAllocator<uint8_t>(paged_dir));
  m_.assign(has_m ? state : 0, 0.0f);
  v_.assign(has_v ? state : 0, 0.0f);
  q1_.assign(codes, 0);
  q2_.assign(codes, 0);
  absmax1_.assign(blocks, 0.0f);
  absmax2_.assign(blocks, 0.0f);
  if (stage_ >= 2) grad_shard_.assign(grad_shards, 0.0f);
}

bool ShardedTrainables::wants_hooks() const {
  return std::any_of(entries_.begin(), entries_.end(), [](const Entry& e) { return e.layerwise; });
}

void ShardedTrainables::start_step() { std::fill(grad_shard_.begin(), grad_shard_.end(), 0.0f); }

void ShardedTrainables::reduce_scatter_into_shard(Entry& e) {
  float* grads = e.layerwise ? e.t.grad_matrix->data.data() : e.t.grads;
  reduce_buffer_.resize(e.shard.size());
  comm_.reduce_scatter_sum(std::span<const float>(grads, e.t.count), reduce_buffer_);
  float* acc = grad_shard_.data() + e.grad_at;
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
      views.emplace_back(grad_shard_.data() + e.grad_at, e.shard.size());
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
    const float* grads = stage_ >= 2 ? grad_shard_.data() + e.grad_at : e.t.grads + e.shard.begin;
    float* m = m_.empty() || e.quantized ? nullptr : m_.data() + e.state_at;
    float* v = v_.empty() || e.quantized ? nullptr : v_.data() + e.state_at;
    segs.push_back({shard_values(e), grads, m, v, e.shard.size()});
  }
  return segs;
}

void ShardedTrainables::update(const AdamWHyper& hyper, int64_t step) {
  const std::vector<ParamSegment> segs = segments();
  if (optim_.kind == OptimKind::AdamW) {
    adamw_update(segs, hyper, step);
  } else if (optim_.kind == OptimKind::Sgd) {
    std::vector<SgdSegment> sgd;
    for (const ParamSegment& p : segs) sgd.push_back({p.values, p.grads, p.m, p.count});
    sgd_update(sgd, {hyper.learning_rate, optim_.momentum, hyper.weight_decay});
  } else {
    std::vector<Adam8bitSegment> eight;
    for (size_t i = 0; i < entries_.size(); ++i) {
      const Entry& e = entries_[i];
      Adam8bitSegment a{segs[i].values, segs[i].grads, segs[i].count};
      if (e.quantized) {
        a.state1 = q1_.data() + e.code_at, a.state2 = q2_.data() + e.code_at;
        a.absmax1 = absmax1_.data() + e.block_at, a.absmax2 = absmax2_.data() + e.block_at;
      } else {
        a.exp_avg = segs[i].m, a.exp_avg_sq = segs[i].v;
      }
      eight.push_back(a);
    }
    adamw8bit_update(eight, hyper, step);
  }
  if (optim_.paged) {  // swept: the first pages to give back until the next step
    for (const StateFloats* a : {&m_, &v_, &absmax1_, &absmax2_}) advise_cold(a->data(), a->size() * sizeof(float));
    for (const StateBytes* a : {&q1_, &q2_}) advise_cold(a->data(), a->size());
  }
  if (stage_ == 0 || !comm_.distributed()) return;
  for (Entry& e : entries_)
    if (!(e.layerwise && stage_ == 3)) comm_.all_gather(std::span<float>(e.t.values, e.t.count));
}

size_t ShardedTrainables::optimizer_state_bytes() const {
  return (m_.size() + v_.size() + absmax1_.size() + absmax2_.size()) * sizeof(float) + q1_.size() + q2_.size();
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
  for (const StateFloats* a : {&m_, &v_, &absmax1_, &absmax2_}) bad |= !finite(a->data(), a->size());
  comm_.all_reduce_max(std::span<int64_t>(&bad, 1));
  return bad == 0;
}

std::vector<CheckpointArray> ShardedTrainables::checkpoint_arrays() const {
  std::vector<CheckpointArray> arrays{{"values", SafeDtype::F32, count_}};
  switch (optim_.kind) {
    case OptimKind::AdamW:
      arrays.push_back({"exp_avg", SafeDtype::F32, count_});
      arrays.push_back({"exp_avg_sq", SafeDtype::F32, count_});
      break;
    case OptimKind::Sgd:
      if (!m_.empty() || optim_.momentum != 0.0) arrays.push_back({"momentum_buffer", SafeDtype::F32, count_});
      break;
    case OptimKind::AdamW8bit:  // flat local arrays (stage 0), in flat_state's order
      arrays.push_back({"state1", SafeDtype::U8, q1_.size()});
      arrays.push_back({"state2", SafeDtype::U8, q2_.size()});
      arrays.push_back({"absmax1", SafeDtype::F32, absmax1_.size()});
      arrays.push_back({"absmax2", SafeDtype::F32, absmax2_.size()});
      arrays.push_back({"exp_avg", SafeDtype::F32, m_.size()});
      arrays.push_back({"exp_avg_sq", SafeDtype::F32, v_.size()});
      break;
  }
  return arrays;
}

std::span<const uint8_t> ShardedTrainables::flat_state(size_t array) const {
  if (optim_.kind != OptimKind::AdamW8bit || array == 0) return {};
  auto bytes = [](const auto& v) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(v[0]));
  };
  switch (array) {
    case 1: return bytes(q1_);
    case 2: return bytes(q2_);
    case 3: return bytes(absmax1_);
    case 4: return bytes(absmax2_);
    case 5: return bytes(m_);
    default: return bytes(v_);
  }
}

std::span<uint8_t> ShardedTrainables::flat_state(size_t array) {
  const std::span<const uint8_t> c = std::as_const(*this).flat_state(array);
  return {const_cast<uint8_t*>(c.data()), c.size()};
}

std::vector<float*> ShardedTrainables::state_arrays() {
  std::vector<float*> out;
  if (optim_.kind == OptimKind::AdamW) out = {m_.data(), v_.data()};
  if (optim_.kind == OptimKind::Sgd && !m_.empty()) out = {m_.data()};
  return out;
}

void ShardedTrainables::stream(size_t array, const ByteSink* sink) {
  const bool root = comm_.is_root();
  auto give = [&](std::span<const float> a) {
    (*sink)(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(a.data()), a.size_bytes()));
  };
  if (optim_.kind == OptimKind::AdamW8bit && array > 0) {  // stage 0: every rank holds it whole
    if (root && sink) (*sink)(flat_state(array));
    return;
  }
  const float* state = array == 0 ? nullptr : state_arrays().at(array - 1);
  for (Entry& e : entries_) {
    const size_t n = e.t.count;
    std::span<const float> mine;  // this rank's part when it is a shard; empty when held whole
    const float* whole = nullptr;
    if (array == 0) {
      if (e.layerwise && stage_ == 3)
        mine = {value_shard_.data() + e.shard_at, e.shard.size()};
      else
        whole = e.t.values;
    } else {
      if (stage_ == 0)
        whole = state + e.state_at;
      else
        mine = {state + e.state_at, e.shard.size()};
    }
    if (whole) {
      if (root && sink) give(std::span<const float>(whole, n));
      continue;
    }
    if (root) gather_buffer_.resize(n);
    comm_.gather_to_root(mine, root ? std::span<float>(gather_buffer_.data(), n) : std::span<float>(), n);
    if (root && sink) give(std::span<const float>(gather_buffer_.data(), n));
  }
  if (root) free_storage(gather_buffer_);
}

void ShardedTrainables::release_optimizer_state() {
  free_state(m_);
  free_state(v_);
  free_state(q1_);
  free_state(q2_);
  free_state(absmax1_);
  free_state(absmax2_);
  free_storage(grad_shard_);
  free_storage(reduce_buffer_);
}

void ShardedTrainables::scatter(std::vector<std::vector<uint8_t>>& arrays) {
  const std::vector<CheckpointArray> layout = checkpoint_arrays();
  arrays.resize(layout.size());
  for (size_t i = 0; i < layout.size(); ++i) {
    arrays[i].resize(layout[i].count * safe_dtype_size(layout[i].dtype));
    comm_.broadcast(std::as_writable_bytes(std::span<uint8_t>(arrays[i])));
  }
  const std::vector<float*> state = state_arrays();
  for (size_t i = 1; i < layout.size(); ++i) {
    const std::span<uint8_t> flat = flat_state(i);
    if (!flat.empty()) std::copy(arrays[i].begin(), arrays[i].end(), flat.begin());
  }
  auto floats = [&](size_t i) { return reinterpret_cast<const float*>(arrays[i].data()); };
  size_t at = 0;
  for (Entry& e : entries_) {
    const size_t from = at + e.shard.begin;
    if (e.layerwise && stage_ == 3)
      std::copy(floats(0) + from, floats(0) + from + e.shard.size(), value_shard_.begin() + static_cast<std::ptrdiff_t>(e.shard_at));
    else
      std::copy(floats(0) + at, floats(0) + at + e.t.count, e.t.values);
    for (size_t k = 0; k < state.size(); ++k)
      std::copy(floats(k + 1) + from, floats(k + 1) + from + e.shard.size(), state[k] + e.state_at);
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
