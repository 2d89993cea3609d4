// The data steps a training run needs, in order: load the dataset file(s), tokenize with loss masks,
// hold out a validation set. What comes out goes to BatchStream (batching.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/dataset.h"
#include "data/tokenize_examples.h"
#include "tokenizer/tokenizer.h"

namespace frugal {

struct DataOptions {
  std::string dataset;        // JSON / JSONL file
  std::string val_dataset;    // optional separate validation file (same format options)
  double val_set_size = 0.0;  // without val_dataset: fraction (< 1) or count (>= 1) held out of dataset
  DatasetOptions records;     // format and key names
  TokenizeOptions tokenize;   // sequence_len, train_on_inputs, prompt style, chat template
  uint64_t seed = 42;         // chooses the held-out examples
};

struct PreparedData {
  std::vector<Example> train, validation;
  std::vector<int64_t> train_lines;  // the dataset line each training example came from, for messages
  TokenizeStats stats;             // of `dataset` (before the split)
  TokenizeStats validation_stats;  // of `val_dataset`, when given
  DatasetFormat format = DatasetFormat::Text;
  std::string summary;  // a few lines for the log: counts, truncation, what was dropped
};

// Fails (one line, naming the file and line) on any problem with the files or the options, and when
// no training example is left.
PreparedData prepare_data(const DataOptions& options, const Tokenizer& tokenizer);

}  // namespace frugal
