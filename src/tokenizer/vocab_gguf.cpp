// Vocabulary from GGUF metadata (tokenizer.ggml.*), with llama.cpp's defaults for what a file
// leaves out (src/llama-vocab.cpp, llama_vocab::impl::load).
#include "core/error.h"
#include "format/gguf.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/vocab.h"
#include "tokenizer/vocab_common.h"

namespace frugal {

namespace {

int32_t read_id(const GgufFile& gguf, const std::string& key, int32_t fallback, size_t n_tokens) {
  if (!gguf.find(key)) return fallback;
  const int64_t id = gguf.get_int(key);
  if (id < 0 || id >= static_cast<int64_t>(n_tokens))
    fail(gguf.path(), key,
         "token id " + std::to_string(id) + " is outside the vocabulary (" + std::to_string(n_tokens) + " tokens)");
  return static_cast<int32_t>(id);
}

}  // namespace

Vocab vocab_from_gguf(const GgufFile& gguf) {
  const std::string& path = gguf.path();
  Vocab v;
  v.source = path;

  const std::string model = gguf.get_string("tokenizer.ggml.model");
  if (model == "llama") {
    v.kind = TokenizerKind::Spm;
  } else if (model == "gpt2" || model == "gemma4") {
    // "gemma4" is SentencePiece-style BPE over raw UTF-8 with a merge list; llama.cpp reads it as
    // BPE with the "gemma4" pre-tokenizer whatever tokenizer.ggml.pre says.
    v.kind = TokenizerKind::Bpe;
  } else {
    fail(path, "tokenizer.ggml.model",
         "tokenizer '" + model + "' is not supported (only \"llama\" SentencePiece-style and \"gpt2\" byte-level BPE)");
  }

  v.tokens = gguf.get_string_array("tokenizer.ggml.tokens");
  const size_t n = v.tokens.size();
  if (n == 0) fail(path, "tokenizer.ggml.tokens", "the vocabulary is empty");
  if (gguf.find("tokenizer.ggml.scores")) {
    v.scores = gguf.get_float_array("tokenizer.ggml.scores");
    if (v.scores.size() != n)
      fail(path, "tokenizer.ggml.scores",
           "has " + std::to_string(v.scores.size()) + " entries but tokenizer.ggml.tokens has " + std::to_string(n));
  }
  if (gguf.find("tokenizer.ggml.token_type")) {
    const std::vector<int64_t> types = gguf.get_int_array("tokenizer.ggml.token_type");
    if (types.size() != n)
      fail(path, "tokenizer.ggml.token_type",
           "has " + std::to_string(types.size()) + " entries but tokenizer.ggml.tokens has " + std::to_string(n));
    v.token_types.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      if (types[i] < 0 || types[i] > static_cast<int64_t>(TokenType::Byte))
        fail(path, "tokenizer.ggml.token_type[" + std::to_string(i) + "]",
             "unknown token type " + std::to_string(types[i]));
      v.token_types.push_back(static_cast<int32_t>(types[i]));
    }
  }

  if (v.kind == TokenizerKind::Spm) {
    // SentencePiece conventions; llama.cpp ignores any pre-tokenizer name and merge list here.
    v.pre = "default";
    v.bos_id = 1;
    v.eos_id = 2;
    v.unk_id = 0;
    v.add_bos = true;
    v.add_space_prefix = true;
    if (n < 3) v.bos_id = v.eos_id = v.unk_id = -1;
  } else {
    if (!gguf.find("tokenizer.ggml.merges"))
      fail(path, "tokenizer.ggml.merges", "missing (a \"gpt2\" tokenizer needs its merge list)");
    v.merges = gguf.get_string_array("tokenizer.ggml.merges");
    // llama.cpp falls back to "default" with a warning when the name is missing; an unknown name
    // is an error here, since guessing the regex silently tokenizes differently from the model.
    v.pre = model == "gemma4" ? "gemma4" : gguf.get_string("tokenizer.ggml.pre", "default");
    if (v.pre.empty()) v.pre = "default";  // as llama.cpp reads an empty name
    const PreTokenizerSpec* spec = find_pre_tokenizer(v.pre);
    if (!spec)
      fail(path, "tokenizer.ggml.pre",
           "'" + v.pre + "' is unknown to llama.cpp too (it knows e.g. llama-bpe, qwen2, gpt-2, smollm, tekken, gpt-4o)");
    v.add_bos = spec->add_bos;
    v.add_space_prefix = false;
    // llama.cpp defaults BOS and EOS to 11 for gpt2 vocabularies, a leftover that names a
    // punctuation token; we leave them unset instead.
  }

  v.bos_id = read_id(gguf, "tokenizer.ggml.bos_token_id", v.bos_id, n);
  v.eos_id = read_id(gguf, "tokenizer.ggml.eos_token_id", v.eos_id, n);
  v.unk_id = read_id(gguf, "tokenizer.ggml.unknown_token_id", v.unk_id, n);
  v.pad_id = read_id(gguf, "tokenizer.ggml.padding_token_id", v.pad_id, n);
  v.eot_id = read_id(gguf, "tokenizer.ggml.eot_token_id", v.eot_id, n);
  v.add_bos = gguf.get_bool("tokenizer.ggml.add_bos_token", v.add_bos);
  if (v.kind == TokenizerKind::Bpe && find_pre_tokenizer(v.pre)->always_add_bos) v.add_bos = true;
  v.add_eos = gguf.get_bool("tokenizer.ggml.add_eos_token", v.add_eos);
  v.add_space_prefix = gguf.get_bool("tokenizer.ggml.add_space_prefix", v.add_space_prefix);
  if (v.add_bos && v.bos_id < 0)
    fail(path, "tokenizer.ggml.add_bos_token", "BOS is to be added but there is no BOS id");
  if (v.add_eos && v.eos_id < 0)
    fail(path, "tokenizer.ggml.add_eos_token", "EOS is to be added but there is no EOS id");
  v.chat_template = gguf.get_string("tokenizer.chat_template", "");

  detect_end_of_turn(v);
  return v;
}

}  // namespace frugal
