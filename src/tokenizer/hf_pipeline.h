// A tokenizer.json's normalizer, pre_tokenizer and decoder (and the BPE model's flags that shape
// encoding), read generically into a TextPipeline: each component becomes steps, whatever
// combination the file makes of them. A component we do not implement fails in one line naming
// the file, its JSON path and its type.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "tokenizer/text_pipeline.h"

namespace frugal {

// `root` is the parsed tokenizer.json at `path`. byte_level is set when a ByteLevel pre-tokenizer
// is present (it must be the last step).
TextPipeline read_hf_pipeline(const nlohmann::json& root, const std::string& path);

}  // namespace frugal
