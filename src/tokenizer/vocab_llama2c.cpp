// llama2.c tokenizer files (tokenizer.bin, tok512.bin), written by llama2.c's tokenizer.py from a
// SentencePiece model: per id a score and the piece, with U+2581 turned into a space and BOS/EOS
// renamed "\n<s>\n" / "\n</s>\n". We undo both, which gives back the SentencePiece vocabulary, and
// tokenizing it as SPM with a space prefix reproduces run.c's encode(): its dummy " " token at the
// start, merges by highest score with ties to the left, byte fallback to ids 3 + byte.
//
// Printing is the caller's business: run.c drops the leading space of the piece after BOS, which
// Tokenizer::stream_piece and Tokenizer::decode do too; token_to_piece gives the piece as is.
#include <cstring>

#include "core/byte_reader.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "tokenizer/token_index.h"
#include "tokenizer/vocab.h"
#include "tokenizer/vocab_common.h"

namespace frugal {

namespace {

std::string spaces_to_marks(const std::string& piece) {
  std::string out;
  out.reserve(piece.size());
  for (char c : piece) {
    if (c == ' ')
      out += "\xE2\x96\x81";
    else
      out += c;
  }
  return out;
}

}  // namespace

Vocab vocab_from_llama2c(const std::string& path, int32_t vocab_size) {
  if (vocab_size <= 0) fail(path, "", "vocabulary size " + std::to_string(vocab_size) + " must be positive");
  MappedFile file(path);
  ByteReader r(file.data(), file.size(), path);
  const int32_t max_token_length = r.read<int32_t>("max_token_length");
  if (max_token_length <= 0 || max_token_length > (1 << 20))
    fail(path, offset_str(0),
         "absurd max_token_length " + std::to_string(max_token_length) + " (not a llama2.c tokenizer?)");

  Vocab v;
  v.source = path;
  v.kind = TokenizerKind::Spm;
  v.tokens.reserve(vocab_size);
  v.scores.reserve(vocab_size);
  v.token_types.reserve(vocab_size);
  for (int32_t id = 0; id < vocab_size; ++id) {
    const size_t at = r.pos();
    const float score = r.read<float>("token score");
    const int32_t length = r.read<int32_t>("token length");
    if (length < 0 || length > max_token_length)
      fail(path, offset_str(at),
           "token " + std::to_string(id) + " has length " + std::to_string(length) + " (max_token_length is " +
               std::to_string(max_token_length) + ")");
    const uint8_t* bytes = r.take(static_cast<uint64_t>(length), "token text");
    std::string piece(reinterpret_cast<const char*>(bytes), static_cast<size_t>(length));

    TokenType type = TokenType::Normal;
    if (id == 0 && piece == "<unk>") {
      type = TokenType::Unknown;
    } else if (id == 1 && piece == "\n<s>\n") {
      piece = "<s>";
      type = TokenType::Control;
    } else if (id == 2 && piece == "\n</s>\n") {
      piece = "</s>";
      type = TokenType::Control;
    } else if (byte_token_value(piece) >= 0) {
      type = TokenType::Byte;
    } else {
      piece = spaces_to_marks(piece);
    }
    v.tokens.push_back(std::move(piece));
    v.scores.push_back(score);
    v.token_types.push_back(static_cast<int32_t>(type));
  }
  if (r.pos() != r.size())
    fail(path, offset_str(r.pos()),
         std::to_string(r.size() - r.pos()) + " bytes left after " + std::to_string(vocab_size) +
             " tokens (does the model's vocabulary size match this tokenizer?)");

  // run.c's fixed ids: 0 <unk>, 1 BOS, 2 EOS; prompts get BOS and no EOS.
  v.unk_id = vocab_size > 0 && v.token_types[0] == static_cast<int32_t>(TokenType::Unknown) ? 0 : -1;
  v.bos_id = vocab_size > 1 ? 1 : -1;
  v.eos_id = vocab_size > 2 ? 2 : -1;
  v.add_bos = v.bos_id >= 0;
  v.add_eos = false;
  v.add_space_prefix = true;
  v.space_prefix_rule = SpacePrefixRule::EveryFragment;
  detect_end_of_turn(v);
  return v;
}

}  // namespace frugal
