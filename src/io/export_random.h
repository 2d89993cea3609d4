// A random-weight model (model/random_init.h) written straight to GGUF for `frugal init-model`:
// each tensor is generated a chunk of rows at a time while the file is written, so nothing of the
// size of the model is ever held in memory (a 1B model in fp32 is 4+ GB).
#pragma once
#include <string>
#include <vector>

#include "io/export_model.h"
#include "model/random_init.h"
#include "tokenizer/vocab.h"

namespace frugal {

// 2-D weights in `dtype`, norms (and biases) in F32, Q/K rows in the GGUF (Meta) order: the values
// are drawn in the internal HF order and permuted on the way out, as export_gguf does. `vocab` may
// be null: the file then has no tokenizer.* metadata and needs a tokenizer given when loaded
// (frugal train --tokenizer). Returns notes for the user (e.g. tokens padded to the vocabulary).
std::vector<std::string> write_random_gguf(const std::string& path, const LlamaConfig& config, const Vocab* vocab,
                                           const std::string& name, ExportDtype dtype, const RandomInit& init);

}  // namespace frugal
