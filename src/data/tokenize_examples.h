// Records -> token ids + loss labels (Example). Decides what the model is trained to predict:
// everything for plain text, only the response (and the token that ends it) for instruction and chat
// data unless train_on_inputs.
//
// Choices, and why:
// - Segments are tokenized one by one (parse_special = true, as Hugging Face tokenizers always do)
//   and concatenated, so the boundary between a masked prompt and a trained response is exact: no
//   token straddles it, and the response tokens are the ones the model emits when it generates
//   after the prompt. For SentencePiece vocabularies that prefix text with a space, a segment that
//   continues running text is encoded without that prefix, so the result equals tokenizing the
//   whole string at once whenever the whole-string tokenization has a token boundary there.
// - Text: [BOS if the vocabulary adds one] text EOS, all trained (EOS teaches where documents end).
// - Instruction: with a chat template (the model's, or TokenizeOptions::chat_template), a user turn
//   "instruction\n\ninput" (just the instruction when input is empty) and an assistant turn
//   "output", handled like chat data, since that is the format an instruct model already follows.
//   Without one, the Stanford Alpaca prompt (with its preamble, as models trained on Alpaca expect),
//   then output + EOS. InstructionPrompt forces either.
// - Chat: rendered with the template turn by turn; each assistant turn's content and its
//   end-of-turn token (e.g. <|im_end|>, so the model learns to stop) are trained, while the turn
//   headers, the other roles, and text the template puts after the end-of-turn token (ChatML's
//   "\n") are masked.
// - sequence_len: longer examples keep their first sequence_len tokens (counted as truncated);
//   examples left with no trained next-token target are dropped (counted).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/dataset.h"
#include "tokenizer/tokenizer.h"

namespace frugal {

enum class InstructionPrompt { Auto, Alpaca, ChatTemplate };  // Auto: ChatTemplate when there is one

// "auto" | "alpaca" | "chat_template"; fails on anything else.
InstructionPrompt parse_instruction_prompt(const std::string& name);

struct TokenizeOptions {
  int64_t sequence_len = 512;    // longer examples are truncated, keeping their start
  bool train_on_inputs = false;  // true: every token is trained (prompt and template text too)
  InstructionPrompt instruction_prompt = InstructionPrompt::Auto;
  std::string chat_template;  // Jinja source overriding the model's; "" = the model's own
};

struct TokenizeStats {
  int64_t records = 0;    // records read
  int64_t examples = 0;   // examples kept
  int64_t truncated = 0;  // kept examples cut to sequence_len
  int64_t dropped = 0;    // records with no trained target (after truncation), not kept
  int64_t tokens = 0;     // tokens in kept examples
  int64_t targets = 0;    // trained next-token targets in kept examples
  int64_t longest = 0;    // longest kept example, in tokens
};

// "1923 records -> 1920 examples (3 truncated to 512 tokens, 3 dropped: no trained token); ..."
std::string describe(const TokenizeStats& stats, int64_t sequence_len);

struct TokenizedDataset {
  std::vector<Example> examples;
  std::vector<int64_t> lines;  // source line of each example, for messages about it
  TokenizeStats stats;
};

// Builds examples from records of one format. Holds what it needs between records (the template,
// and for SentencePiece vocabularies a second tokenizer without the space prefix).
class ExampleBuilder {
 public:
  ExampleBuilder(const Tokenizer& tokenizer, TokenizeOptions options);
  ~ExampleBuilder();

  // The untruncated example for one record; fails (without a file name: callers add it) on text the
  // tokenizer rejects or a template that cannot render the record.
  Example build(const Record& record, DatasetFormat format) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// All records of `dataset`, truncated and filtered as above. Errors name the dataset file and line.
TokenizedDataset tokenize_dataset(const Dataset& dataset, const Tokenizer& tokenizer, const TokenizeOptions& options);

// Positions whose label is trained and can be a next-token target (every position but the first).
int64_t count_targets(const Example& example);

}  // namespace frugal
