// Writing a whole (typically merged) model: a GGUF file llama.cpp can run, or a Hugging Face folder
// transformers can load. Weights come from our internal layout (HF row order), so the Q/K row
// permutation happens here for GGUF and not at all for HF. Every file is written atomically.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "format/gguf_writer.h"
#include "model/model.h"
#include "tokenizer/vocab.h"

namespace frugal {

enum class ExportDtype { F32, F16, BF16, Q8_0 };
ExportDtype parse_export_dtype(const std::string& name);  // "f32", "f16", "bf16", "q8_0" (any case)
std::string export_dtype_name(ExportDtype dtype);        // "f32", ...

// GGUF with the 2-D weights in `dtype` (4-bit linear weights dequantized first) and norms (and biases) in F32. Q8_0 needs rows that are a
// multiple of 32 long; other tensors fall back to F16. Returns one line per such decision, for the
// user. Metadata: general.*, <arch>.* from the config, tokenizer.* from the vocabulary.
std::vector<std::string> export_gguf(const Model& model, const std::string& path, ExportDtype dtype);

// The pieces of export_gguf, for writers whose tensors come from elsewhere (init-model generates
// them): the GGUF type of a dtype, general.* and <arch>.* metadata from a config, and tokenizer.*
// from a vocabulary (padded with unused tokens up to `vocab_size`; notes say so).
GgmlType export_ggml_type(ExportDtype dtype);
void set_gguf_model_metadata(GgufWriter& w, const LlamaConfig& config, const std::string& name, ExportDtype dtype);
void set_gguf_tokenizer_metadata(GgufWriter& w, const Vocab& vocab, int64_t vocab_size,
                                 std::vector<std::string>& notes);

// Hugging Face folder: config.json, model.safetensors (F32, F16 or BF16; Q8_0 is refused; linear
// weights held in 4 bits or as int8 rows are written in bitsandbytes' 4-bit or 8-bit format with a
// quantization_config; GGUF blocks are written expanded) and the
// tokenizer: the source folder's tokenizer files when the vocabulary came from one, else a
// tokenizer.json + tokenizer_config.json generated from the vocabulary. Files are each written
// atomically, config.json last, into `dir` (created if needed). Returns notes for the user.
std::vector<std::string> export_hf(const Model& model, const std::string& dir, ExportDtype dtype);

// The generated tokenizer files, exposed for tests. A SentencePiece-style vocabulary becomes a BPE
// with byte_fallback (Llama-2's tokenizer.json shape), a byte-level one a BPE with a ByteLevel
// pre-tokenizer; both fail on vocabularies tokenizer.json cannot express.
std::string hf_tokenizer_json(const Vocab& vocab);
std::string hf_tokenizer_config_json(const Vocab& vocab, int64_t context_length);

// BPE merges that reproduce SentencePiece's score-ordered merging: for each normal token of two or
// more characters, by score (highest first, then id), every split into two normal tokens, left part
// shortest first; the rule transformers uses to convert SentencePiece BPE models.
std::vector<std::pair<std::string, std::string>> spm_merges(const Vocab& vocab);
// Scores for an SPM vocabulary that only has merges (from tokenizer.json), so that llama.cpp's
// score-ordered merging follows the merge ranks: a token scores minus the rank of its first merge.
std::vector<float> spm_scores_from_merges(const Vocab& vocab);

}  // namespace frugal
