// Text <-> token ids, matching llama.cpp / Hugging Face tokenizers exactly:
// SentencePiece-style BPE with byte fallback, and byte-level BPE with per-model pre-tokenizer regexes.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace frugal {

class Tokenizer {
 public:
  explicit Tokenizer(Vocab vocab);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // add_special: BOS/EOS as the vocabulary asks (add_bos/add_eos).
  // parse_special: text like "<|im_start|>" becomes its control token instead of plain text.
  // User-defined tokens (HF added tokens that are not special) are always cut out of the text, as
  // llama.cpp and Hugging Face do. Thread-safe. Fails with a clear error on text that is not valid UTF-8.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

  // Bytes of one token as it appears in text (byte tokens become their byte, SPM's U+2581 a space,
  // byte-level BPE's unicode alphabet back to bytes). Control tokens decode to "" unless `keep_special`.
  // Ids outside the vocabulary fail. Unknown tokens decode like control tokens; Unused and Undefined
  // ones to "" even with keep_special (llama.cpp). User-defined tokens decode to their text.
  std::string token_to_piece(int32_t id, bool keep_special = false) const;
  // Concatenated pieces. SPM vocabularies with a space prefix drop the leading space of the first
  // non-empty piece (llama.cpp, SentencePiece, HF's Strip decoder), so decode(encode(s)) == s for
  // text without special tokens under the EveryFragment rule (except text containing U+2581, which
  // SPM cannot tell from a space); Metaspace rules lose a leading space, as HF does. Byte-level BPE
  // round-trips exactly.
  std::string decode(const std::vector<int32_t>& ids, bool keep_special = false) const;
  // Text to print for `id` when streaming, `prev_id` being the token printed before it (-1 for none).
  // Same as token_to_piece except that, for SPM vocabularies with a space prefix, the piece at the
  // start or right after BOS loses one leading space: llama2.c run.c prints this way, and it makes
  // streamed text equal decode() for the usual [BOS, text...] sequences. (run.c also skips pieces that
  // are a single unprintable byte; that is a printing policy left to the caller.)
  std::string stream_piece(int32_t prev_id, int32_t id) const;

  const Vocab& vocab() const;
  int32_t size() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t eot_id() const;          // end-of-turn for chat models (e.g. <|im_end|>); -1 if none
  // EOS, EOT, or another control token whose text ends a turn in a known chat format
  // (<|im_end|>, <|eot_id|>, <|endoftext|>, ...; llama.cpp's end-of-generation list).
  bool is_end_of_generation(int32_t id) const;
  int32_t find_token(std::string_view text) const;  // exact token text -> id, or -1

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace frugal
