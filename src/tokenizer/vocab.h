// Everything a tokenizer needs, independent of the file it came from (GGUF metadata,
// llama2.c tok512.bin, or a Hugging Face tokenizer.json).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/text_pipeline.h"

namespace frugal {

class GgufFile;

enum class TokenizerKind { Spm, Bpe };  // GGUF tokenizer.ggml.model "llama" / "gpt2"

// Values of GGUF tokenizer.ggml.token_type.
enum class TokenType : int32_t { Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

// Where an SPM vocabulary with add_space_prefix puts the prefix. Text is cut at special tokens
// first; each remaining piece of text is a fragment.
enum class SpacePrefixRule {
  EveryFragment,    // llama.cpp, SentencePiece, HF legacy Prepend normalizer: every fragment, always
  MetaspaceAlways,  // HF Metaspace prepend_scheme "always": every fragment not starting with a space
  MetaspaceFirst,   // HF Metaspace prepend_scheme "first": only a fragment at the very start of the
                    // text, and only when it does not start with a space
};

struct Vocab {
  TokenizerKind kind = TokenizerKind::Spm;
  std::string pre = "default";  // pre-tokenizer name as in GGUF tokenizer.ggml.pre ("" when none fits)
  // BPE: the text pipeline, when it is not the one `pre` names (a tokenizer.json of its own making).
  std::optional<TextPipeline> pipeline;
  std::vector<std::string> tokens;
  std::vector<float> scores;        // SPM merge priority (higher merges first); may be empty for BPE
  std::vector<int32_t> token_types; // TokenType values; empty means all Normal
  std::vector<std::string> merges;  // BPE merges "a b", rank = index. An SPM vocabulary with merges
                                    // (HF BPE with byte_fallback) merges by rank instead of by score.
  int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1, eot_id = -1;
  bool add_bos = false, add_eos = false;
  bool add_space_prefix = true;     // SPM: prepend a space to the text (llama.cpp / SentencePiece default)
  SpacePrefixRule space_prefix_rule = SpacePrefixRule::EveryFragment;
  std::string chat_template;        // Jinja source, empty if the model has none
  std::string source;               // file it was read from, for error messages
};

Vocab vocab_from_gguf(const GgufFile& gguf);
// llama2.c tokenizer file: max_token_length, then per id: f32 score, i32 length, bytes.
Vocab vocab_from_llama2c(const std::string& path, int32_t vocab_size);
// Hugging Face folder: tokenizer.json (+ tokenizer_config.json for BOS/EOS rules and chat template).
Vocab vocab_from_hf_dir(const std::string& dir);

}  // namespace frugal
