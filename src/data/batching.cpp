#include "data/batching.h"

#include "parallel/communicator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "core/error.h"

namespace frugal {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Cuts `order` into consecutive micro-batches of up to `size` one-example rows.
void append_chunks(const std::vector<int64_t>& order, int64_t size, std::vector<BatchPlan>& out) {
  for (size_t at = 0; at < order.size(); at += size) {
    BatchPlan plan;
    const size_t end = std::min(order.size(), at + static_cast<size_t>(size));
    for (size_t i = at; i < end; ++i) plan.push_back({order[i]});
    out.push_back(std::move(plan));
  }
}

// Longest first; equal lengths keep their order in `order` (stable), so ties follow the shuffle.
void sort_longest_first(std::vector<int64_t>::iterator begin, std::vector<int64_t>::iterator end,
                        const std::vector<int64_t>& lengths) {
  std::stable_sort(begin, end, [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; });
}

// Shuffles whole micro-batches (Fisher-Yates over their indices).
void shuffle_plans(std::vector<BatchPlan>& plans, std::mt19937_64& rng) {
  for (size_t i = plans.size(); i > 1; --i) std::swap(plans[i - 1], plans[uniform_below(rng, i)]);
}

std::vector<BatchPlan> plan_packed(std::vector<int64_t> order, const std::vector<int64_t>& lengths,
                                   const BatchingOptions& o, std::mt19937_64& rng) {
  for (int64_t i : order)
    if (lengths[i] > o.sequence_len)
      fail("sample_packing", "example " + std::to_string(i),
           std::to_string(lengths[i]) + " tokens do not fit a row of sequence_len " + std::to_string(o.sequence_len));
  sort_longest_first(order.begin(), order.end(), lengths);
  // Best fit: the row with the least room that still fits. multimap keeps rows with equal room in
  // insertion order, so the choice is the same on every standard library.
  std::vector<std::vector<int64_t>> rows;
  std::multimap<int64_t, size_t> room;  // free tokens -> row
  for (int64_t i : order) {
    auto it = room.lower_bound(lengths[i]);
    size_t row;
    int64_t left;
    if (it == room.end()) {
      row = rows.size();
      rows.emplace_back();
      left = o.sequence_len;
    } else {
      row = it->second;
      left = it->first;
      room.erase(it);
    }
    rows[row].push_back(i);
    left -= lengths[i];
    if (left > 0) room.emplace(left, row);
  }
  std::vector<int64_t> row_order(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) row_order[r] = static_cast<int64_t>(r);
  if (o.shuffle) shuffle_in_place(row_order, rng);
  std::vector<BatchPlan> plans;
  for (size_t at = 0; at < row_order.size(); at += o.micro_batch_size) {
    BatchPlan plan;
    const size_t end = std::min(row_order.size(), at + static_cast<size_t>(o.micro_batch_size));
    for (size_t r = at; r < end; ++r) plan.push_back(std::move(rows[row_order[r]]));
    plans.push_back(std::move(plan));
  }
  return plans;
}

std::vector<BatchPlan> plan_grouped(std::vector<int64_t> order, const std::vector<int64_t>& lengths,
                                    const BatchingOptions& o, std::mt19937_64& rng) {
  const size_t mega = static_cast<size_t>(std::max<int64_t>(1, o.length_group_size) * o.micro_batch_size);
  std::vector<BatchPlan> plans;
  for (size_t at = 0; at < order.size(); at += mega) {
    const size_t end = std::min(order.size(), at + mega);
    sort_longest_first(order.begin() + at, order.begin() + end, lengths);
    append_chunks(std::vector<int64_t>(order.begin() + at, order.begin() + end), o.micro_batch_size, plans);
  }
  if (o.shuffle) {
    shuffle_plans(plans, rng);
    // The longest example first, so peak memory shows at once.
    size_t longest = 0;
    for (size_t p = 1; p < plans.size(); ++p)
      if (lengths[plans[p][0][0]] > lengths[plans[longest][0][0]]) longest = p;
    std::swap(plans[0], plans[longest]);
  }
  return plans;
}

}  // namespace

int32_t pad_token_id(const Vocab& vocab) {
  if (vocab.pad_id >= 0) return vocab.pad_id;
  if (vocab.eos_id >= 0) return vocab.eos_id;
  return 0;
}

std::mt19937_64 epoch_rng(uint64_t seed, int64_t epoch) {
  return std::mt19937_64(splitmix64(seed ^ splitmix64(static_cast<uint64_t>(epoch))));
}

uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  // Values below `threshold` would make low results more likely; 2^64 mod n of them are skipped.
  const uint64_t threshold = (0 - n) % n;
  while (true) {
    const uint64_t r = rng();
    if (r >= threshold) return r % n;
  }
}

void shuffle_in_place(std::vector<int64_t>& values, std::mt19937_64& rng) {
  for (size_t i = values.size(); i > 1; --i) std::swap(values[i - 1], values[uniform_below(rng, i)]);
}

std::vector<BatchPlan> plan_epoch(const std::vector<int64_t>& lengths, const BatchingOptions& o, int64_t epoch) {
  if (lengths.empty()) fail("batching", "", "there are no examples to batch");
  if (o.micro_batch_size < 1) fail("micro_batch_size", "", "must be at least 1");
  if (o.sample_packing && o.sequence_len < 2) fail("sequence_len", "", "must be at least 2 for sample_packing");
  std::vector<int64_t> order(lengths.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::mt19937_64 rng = epoch_rng(o.seed, epoch);
  if (o.shuffle) shuffle_in_place(order, rng);
  if (o.sample_packing) return plan_packed(std::move(order), lengths, o, rng);
  if (o.group_by_length) return plan_grouped(std::move(order), lengths, o, rng);
  std::vector<BatchPlan> plans;
  append_chunks(order, o.micro_batch_size, plans);
  return plans;
}

Batch collate(const std::vector<Example>& examples, const BatchPlan& plan, const BatchingOptions& o) {
  Batch b;
  b.B = static_cast<int64_t>(plan.size());
  if (o.sample_packing) {
    b.T = o.sequence_len;
  } else {
    for (const std::vector<int64_t>& row : plan) {
      int64_t n = 0;
      for (int64_t i : row) n += static_cast<int64_t>(examples[i].tokens.size());
      b.T = std::max(b.T, n);
    }
  }
  const size_t size = static_cast<size_t>(b.B * b.T);
  b.tokens.assign(size, o.pad_id);
  b.targets.assign(size, kIgnoreTarget);
  b.positions.assign(size, 0);
  b.segments.assign(size, -1);
  for (int64_t r = 0; r < b.B; ++r) {
    int64_t t = 0;
    int32_t segment = 0;
    for (int64_t i : plan[r]) {
      const Example& ex = examples[i];
      const auto n = static_cast<int64_t>(ex.tokens.size());
      if (ex.labels.size() != ex.tokens.size())
        fail("batching", "example " + std::to_string(i), "labels and tokens differ in length");
      if (t + n > b.T) fail("batching", "example " + std::to_string(i), "does not fit its row");
      for (int64_t k = 0; k < n; ++k) {
        const size_t at = static_cast<size_t>(r * b.T + t + k);
        b.tokens[at] = ex.tokens[k];
        b.targets[at] = k + 1 < n ? ex.labels[k + 1] : kIgnoreTarget;
        b.positions[at] = static_cast<int32_t>(k);
        b.segments[at] = segment;
      }
      t += n;
      ++segment;
    }
  }
  return b;
}

uint64_t batching_fingerprint(const std::vector<Example>& examples, const BatchingOptions& o) {
  uint64_t h = 0xCBF29CE484222325ULL;
  auto mix = [&h](int64_t v) {
    for (int byte = 0; byte < 8; ++byte) {
      h ^= static_cast<uint64_t>(v >> (8 * byte)) & 0xFF;
      h *= 0x100000001B3ULL;
    }
  };
  for (int64_t v : {o.micro_batch_size, o.sequence_len, int64_t{o.sample_packing}, int64_t{o.group_by_length},
                    o.length_group_size, int64_t{o.shuffle}, static_cast<int64_t>(o.seed)})
    mix(v);
  mix(static_cast<int64_t>(examples.size()));
  for (const Example& ex : examples) {
    mix(static_cast<int64_t>(ex.tokens.size()));
    for (int32_t t : ex.tokens) mix(t);
    for (int32_t l : ex.labels) mix(l);
  }
  return h;
}

BatchStream::BatchStream(const std::vector<Example>& examples, BatchingOptions options)
    : examples_(&examples), options_(options) {
  lengths_.reserve(examples.size());
  for (const Example& ex : examples) lengths_.push_back(static_cast<int64_t>(ex.tokens.size()));
  epoch_plan_ = plan_epoch(lengths_, options_, 0);
  planned_epoch_ = 0;
  batches_per_epoch_ = static_cast<int64_t>(epoch_plan_.size());
  fingerprint_ = batching_fingerprint(examples, options_);
}

const BatchPlan& BatchStream::advance() {
  if (state_.index >= batches_per_epoch_) {
    ++state_.epoch;
    state_.index = 0;
  }
  if (planned_epoch_ != state_.epoch) {
    epoch_plan_ = plan_epoch(lengths_, options_, state_.epoch);
    planned_epoch_ = state_.epoch;
    if (static_cast<int64_t>(epoch_plan_.size()) != batches_per_epoch_)
      fail("batching", "epoch " + std::to_string(state_.epoch), "the number of micro-batches changed between epochs");
  }
  return epoch_plan_[state_.index++];
}

Batch BatchStream::next() { return collate(*examples_, advance(), options_); }

Batch BatchStream::next(int rank, int ranks) {
  const BatchPlan& global = advance();
  const ShardRange rows = shard_range(global.size(), rank, ranks);
  const BatchPlan mine(global.begin() + static_cast<std::ptrdiff_t>(rows.begin),
                       global.begin() + static_cast<std::ptrdiff_t>(rows.end));
  if (mine.empty()) return Batch{};
  return collate(*examples_, mine, options_);
}

void BatchStream::restore(StreamState state) {
  if (state.epoch < 0 || state.index < 0 || state.index > batches_per_epoch_)
    fail("data state", "",
         "epoch " + std::to_string(state.epoch) + ", micro-batch " + std::to_string(state.index) +
             " is not a position of this dataset (" + std::to_string(batches_per_epoch_) +
             " micro-batches per epoch); was it saved with other data or batching options?");
  state_ = state;
}

void BatchStream::seek(int64_t micro_batch) {
  if (micro_batch < 0) fail("data state", "", "negative micro-batch position");
  restore({micro_batch / batches_per_epoch_, micro_batch % batches_per_epoch_});
}

ValidationSplit split_validation(int64_t n, double size, uint64_t seed) {
  if (!(size >= 0) || !std::isfinite(size)) fail("val_set_size", "", "must be a fraction in [0, 1) or a count >= 1");
  int64_t count = 0;
  if (size >= 1) {
    if (size != std::floor(size)) fail("val_set_size", "", "a count (>= 1) must be a whole number");
    count = static_cast<int64_t>(size);
  } else {
    count = static_cast<int64_t>(std::ceil(size * static_cast<double>(n)));
  }
  if (count > 0 && count >= n)
    fail("val_set_size", "",
         "holding out " + std::to_string(count) + " of " + std::to_string(n) + " examples leaves none to train on");
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  // Its own stream (not any epoch's), so changing the split never changes the epoch orders' seeds.
  std::mt19937_64 rng(splitmix64(seed ^ 0x76616C5F73706C74ULL));
  shuffle_in_place(order, rng);
  ValidationSplit split;
  split.validation.assign(order.begin(), order.begin() + count);
  split.train.assign(order.begin() + count, order.end());
  std::sort(split.validation.begin(), split.validation.end());
  std::sort(split.train.begin(), split.train.end());
  return split;
}

std::pair<std::vector<Example>, std::vector<Example>> split_examples(std::vector<Example> all, double val_set_size,
                                                                     uint64_t seed) {
  const ValidationSplit split = split_validation(static_cast<int64_t>(all.size()), val_set_size, seed);
  std::pair<std::vector<Example>, std::vector<Example>> out;
  out.first.reserve(split.train.size());
  out.second.reserve(split.validation.size());
  for (int64_t i : split.train) out.first.push_back(std::move(all[i]));
  for (int64_t i : split.validation) out.second.push_back(std::move(all[i]));
  return out;
}

}  // namespace frugal
