// Examples -> micro-batches: deterministic per-epoch shuffling, dynamic padding, length grouping,
// sample packing, and a stream that can be stopped and resumed at the same micro-batch.
//
// Shuffling uses std::mt19937_64 (its output is fixed by the C++ standard) with our own bounded
// draws and Fisher-Yates, because std::shuffle / uniform_int_distribution differ between standard
// libraries and a resumed or re-run job must see the same order everywhere.
//
// Plans per epoch (each a list of micro-batches, each a list of rows, each a list of example indices):
// - plain: the epoch's shuffled order cut into micro_batch_size rows of one example each;
//   T = longest example of the micro-batch (dynamic padding).
// - group_by_length (like Hugging Face's LengthGroupedSampler): the shuffled order cut into
//   mega-batches of length_group_size x micro_batch_size, each sorted longest first, cut into
//   micro-batches; then the micro-batches are shuffled (so lengths do not cycle long-to-short) and
//   the one holding the longest example goes first, so a run that is going to run out of memory
//   does so at step 1.
// - sample_packing: rows of exactly sequence_len tokens filled with whole examples by best-fit
//   decreasing (each example, longest first, goes into the fullest row it still fits, else a new
//   row; ties by the epoch's shuffled order), then the rows are shuffled and cut into micro-batches.
//   Packs are dense (best-fit decreasing is within 22% of optimal and usually within a few rows)
//   and the number of rows is the same every epoch: it depends only on the multiset of lengths.
//   Positions restart at 0 for each sample, segments number the samples of a row, and a sample's
//   last token has no target, so no target crosses a sample boundary.
// Every mode yields each example exactly once per epoch; the last micro-batch may have fewer rows.
#pragma once
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "data/batch.h"
#include "tokenizer/vocab.h"

namespace frugal {

struct BatchingOptions {
  int64_t micro_batch_size = 1;
  int64_t sequence_len = 512;  // packed row length (examples must not be longer when packing)
  bool sample_packing = false;
  bool group_by_length = false;
  int64_t length_group_size = 50;  // mega-batch size in micro-batches, for group_by_length
  bool shuffle = true;             // false (evaluation): data order, no shuffling of batches either
  uint64_t seed = 42;
  int32_t pad_id = 0;  // see pad_token_id()
};

// The vocabulary's pad token, else EOS, else 0: padding is never attended to nor trained on, so any
// real id works; using the model's own keeps dumps readable.
int32_t pad_token_id(const Vocab& vocab);

// The generator for one epoch's shuffling: seed and epoch mixed through SplitMix64.
std::mt19937_64 epoch_rng(uint64_t seed, int64_t epoch);
// Uniform in [0, n), by rejection, identical on every platform. n > 0.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t n);
// Fisher-Yates with uniform_below.
void shuffle_in_place(std::vector<int64_t>& values, std::mt19937_64& rng);

using BatchPlan = std::vector<std::vector<int64_t>>;  // rows of example indices

// The micro-batches of one epoch; `lengths` are the examples' token counts. Fails on an empty
// dataset, a micro_batch_size < 1, or (packing) an example longer than sequence_len.
std::vector<BatchPlan> plan_epoch(const std::vector<int64_t>& lengths, const BatchingOptions& options, int64_t epoch);

// Tokens, next-token targets, positions and segments for one planned micro-batch.
// targets[t] = labels[t + 1] within a sample; a sample's last position and padding get kIgnoreTarget.
Batch collate(const std::vector<Example>& examples, const BatchPlan& plan, const BatchingOptions& options);

// Where a stream is: the next micro-batch to yield is number `index` of epoch `epoch`. Two integers,
// saved in checkpoints.
struct StreamState {
  int64_t epoch = 0;
  int64_t index = 0;
  bool operator==(const StreamState&) const = default;
};

// FNV-1a over every example's tokens and labels and the options that shape the plans (not pad_id).
// Saved next to a StreamState, it lets a resumed run check it is batching the same data the same way.
uint64_t batching_fingerprint(const std::vector<Example>& examples, const BatchingOptions& options);

// Endless sequence of micro-batches over `examples`, epoch after epoch. Keeps a reference to the
// examples, which must outlive it. Plans one epoch at a time.
class BatchStream {
 public:
  BatchStream(const std::vector<Example>& examples, BatchingOptions options);

  Batch next();
  // Data parallel: the stream plans global micro-batches (micro_batch_size = rows per rank x ranks)
  // and each rank collates only its even share of the rows (shard_range), padded to its own longest.
  // B = 0 when the epoch's last micro-batch has no row left for this rank.
  Batch next(int rank, int ranks);
  StreamState state() const { return state_; }
  void restore(StreamState state);  // fails on an index past the end of an epoch or a negative one
  // Micro-batches yielded since epoch 0 began; seek(k) makes the k-th (from 0) the next one, which
  // is how a trainer puts step s at micro-batch s x gradient_accumulation_steps.
  int64_t position() const { return state_.epoch * batches_per_epoch_ + state_.index; }
  void seek(int64_t micro_batch);

  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  uint64_t fingerprint() const { return fingerprint_; }  // batching_fingerprint of this stream
  int64_t epoch() const { return state_.epoch; }
  const BatchingOptions& options() const { return options_; }
  // The plan of `epoch` (for tests and for logging padding efficiency).
  std::vector<BatchPlan> plan(int64_t epoch) const { return plan_epoch(lengths_, options_, epoch); }

 private:
  const BatchPlan& advance();  // the next planned micro-batch (planning a new epoch when one ends)

  const std::vector<Example>* examples_;
  BatchingOptions options_;
  std::vector<int64_t> lengths_;
  int64_t batches_per_epoch_ = 0;
  uint64_t fingerprint_ = 0;
  StreamState state_;
  int64_t planned_epoch_ = -1;
  std::vector<BatchPlan> epoch_plan_;
};

// Held-out validation examples chosen by `seed`: val_set_size < 1 is a fraction of n (rounded up,
// as Hugging Face's train_test_split does), >= 1 a count (must be a whole number), 0 none. Both lists
// are in ascending order. Fails when nothing would be left to train on.
struct ValidationSplit {
  std::vector<int64_t> train, validation;
};
ValidationSplit split_validation(int64_t n, double val_set_size, uint64_t seed);

// Moves `all` into (train, validation) by split_validation.
std::pair<std::vector<Example>, std::vector<Example>> split_examples(std::vector<Example> all, double val_set_size,
                                                                     uint64_t seed);

}  // namespace frugal
