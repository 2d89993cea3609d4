#include "data/pipeline.h"

#include "core/error.h"
#include "data/batching.h"

namespace frugal {

PreparedData prepare_data(const DataOptions& o, const Tokenizer& tokenizer) {
  if (o.dataset.empty()) fail("dataset", "", "no dataset file given");
  if (!o.val_dataset.empty() && o.val_set_size != 0)
    fail("val_set_size", "", "set either val_dataset or val_set_size, not both");

  PreparedData out;
  const Dataset ds = load_dataset(o.dataset, o.records);
  out.format = ds.format;
  TokenizedDataset tokenized = tokenize_dataset(ds, tokenizer, o.tokenize);
  out.stats = tokenized.stats;
  if (tokenized.examples.empty())
    fail(o.dataset, "", "no example has a token to train on (" + describe(out.stats, o.tokenize.sequence_len) + ")");
  out.summary =
      o.dataset + " (" + dataset_format_name(ds.format) + "): " + describe(out.stats, o.tokenize.sequence_len);

  if (!o.val_dataset.empty()) {
    const Dataset val = load_dataset(o.val_dataset, o.records);
    TokenizedDataset tv = tokenize_dataset(val, tokenizer, o.tokenize);
    out.validation_stats = tv.stats;
    out.train = std::move(tokenized.examples);
    out.train_lines = std::move(tokenized.lines);
    out.validation = std::move(tv.examples);
    out.summary += "\n" + o.val_dataset + " (validation): " + describe(tv.stats, o.tokenize.sequence_len);
  } else {
    const ValidationSplit split =
        split_validation(static_cast<int64_t>(tokenized.examples.size()), o.val_set_size, o.seed);
    for (int64_t i : split.train) {
      out.train.push_back(std::move(tokenized.examples[static_cast<size_t>(i)]));
      out.train_lines.push_back(tokenized.lines[static_cast<size_t>(i)]);
    }
    for (int64_t i : split.validation) out.validation.push_back(std::move(tokenized.examples[static_cast<size_t>(i)]));
    if (!out.validation.empty())
      out.summary += "\nheld out " + std::to_string(out.validation.size()) + " examples for validation, " +
                     std::to_string(out.train.size()) + " left to train on";
  }
  return out;
}

}  // namespace frugal
