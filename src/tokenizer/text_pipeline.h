// What happens to a piece of text (the text between special tokens) before BPE merges run, in the
// terms of Hugging Face's tokenizer.json: normalizers rewrite it, pre-tokenizer steps cut it into
// words, and no merge crosses a cut. A GGUF tokenizer.ggml.pre name is one such pipeline (a chain
// of Isolated regex splits); a tokenizer.json describes its own (vocab_hf.cpp reads it).
#pragma once
#include <string>
#include <vector>

namespace frugal {

// Hugging Face's SplitDelimiterBehavior: what becomes of the matches of a split.
enum class SplitBehavior {
  Removed,             // dropped
  Isolated,            // pieces of their own
  MergedWithPrevious,  // appended to the piece before
  MergedWithNext,      // prepended to the piece after
  Contiguous,          // adjacent matches form one piece
};

// Where Metaspace puts its replacement character in front of a piece.
enum class PrependScheme { Always, First, Never };

struct NormalizerStep {
  enum class Kind {
    Prepend,    // `text` before a non-empty text
    Replace,    // every match of `regex` becomes `text`
    Lowercase,  // Unicode simple lower case
    Strip,      // white space off the left and/or right end
  } kind = Kind::Replace;
  std::string regex;
  std::string text;
  bool left = false, right = false;
};

struct PreTokenizerStep {
  enum class Kind {
    Split,        // cut at the matches of `regex` (or, with `invert`, keep the matches and cut the rest)
    PrefixSpace,  // ByteLevel's add_prefix_space: a space before every piece that lacks one
    Metaspace,    // spaces become `text`, which is prepended per `prepend`; cut before it when `split`
  } kind = Kind::Split;
  std::string regex;
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
  std::string text;
  PrependScheme prepend = PrependScheme::Always;
  bool split = true;
};

struct TextPipeline {
  std::vector<NormalizerStep> normalizers;
  std::vector<PreTokenizerStep> steps;
  bool byte_level = true;           // words are spelled in GPT-2's byte alphabet before merging
  bool ignore_merges = false;       // a word that is already a token is emitted whole
  bool whole_newline_runs = false;  // a word of line breaks that is a token stays whole (Gemma 4)
  bool byte_fallback = true;        // not byte-level: characters without a token become <0xNN> tokens,
                                    // else the unknown token
  bool fuse_unk = false;            // adjacent unknown tokens become one
  std::string space_mark;           // decoding: this text stands for a space ("" for none)
  int strip_leading_spaces = 0;     // decoding: spaces dropped from the start of the text
};

// The pipeline of a GGUF tokenizer.ggml.pre name; fails naming `source` when it is unknown.
TextPipeline pipeline_for_pre(const std::string& name, const std::string& source);

// Hugging Face's regex for a char predicate pattern (Digits, Punctuation, WhitespaceSplit).
extern const char* const kUnicodePunctuation;  // ASCII punctuation or \p{P}
extern const char* const kUnicodeWhitespace;   // Rust char::is_whitespace (Unicode White_Space)

}  // namespace frugal
