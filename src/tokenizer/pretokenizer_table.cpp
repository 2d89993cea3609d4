// Every GGUF `tokenizer.ggml.pre` name llama.cpp accepts (src/llama-vocab.cpp, llama_vocab::impl::load)
// with the regex list its llm_tokenizer_bpe uses for that name and the flags it sets, as data.
//
// The regexes are the Hugging Face originals where llama.cpp rewrote them for its own regex engine
// and kept the original in a comment, written for PCRE2: (?i:...) for case-insensitive contractions,
// and (?!\p{sc:Han})[...] where Kimi K2's tiktoken pattern intersects classes with && (sc: because
// PCRE2's plain \p{Han} also takes characters whose script extensions include Han, such as "、"). Where
// llama.cpp runs a hand-written splitter instead of a regex (gpt2, llama3, qwen2, qwen35, kimi-k2,
// afmoe, newline runs; src/unicode.cpp), the regex here gives that splitter's pieces.
// tests/reference/make_pretokenizer_fixture.py derives the names, flags and pieces from llama.cpp's
// source and the `tokenizers` library, and tests/unit/test_pretokenizer.cpp holds this table to them.
#include "core/error.h"
#include "tokenizer/pretokenizer.h"

namespace frugal {

namespace {

// GPT-2 as llama.cpp writes it. Hugging Face's ByteLevel adds a final "|\s+", which never changes
// the pieces: the only whitespace it could match alone is one character before a non-space, and
// that character is already cut off as the text between two matches.
#define FRUGAL_GPT2 R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))"
constexpr std::string_view kGpt2 = FRUGAL_GPT2;
// Llama 3's family: the contractions, a word with at most one leading non-letter, a number, a run
// of symbols with the line breaks after it, line breaks with the spaces before them, spaces.
#define FRUGAL_LLAMA3_LIKE(DIGITS) \
  R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|)" DIGITS R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"
constexpr std::string_view kLlama3 = FRUGAL_LLAMA3_LIKE(R"(\p{N}{1,3})");
constexpr std::string_view kQwen2 = FRUGAL_LLAMA3_LIKE(R"(\p{N})");
constexpr std::string_view kMiniCpm5 = FRUGAL_LLAMA3_LIKE(R"(\p{N}+)");
#undef FRUGAL_LLAMA3_LIKE
constexpr std::string_view kQwen35 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Llama 3 with whitespace runs cut into power-of-two lengths.
constexpr std::string_view kJais2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1})";
// GPT-4o (o200k): a word is an upper-case run then a lower-case run (or the reverse), with its contraction.
constexpr std::string_view kGpt4o =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kTekken =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kKimiK2 =
    R"([\p{sc:Han}]+|[^\r\n\p{L}\p{N}]?(?:(?!\p{sc:Han})[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}])*(?:(?!\p{sc:Han})[\p{Ll}\p{Lm}\p{Lo}\p{M}])+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?(?:(?!\p{sc:Han})[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}])+(?:(?!\p{sc:Han})[\p{Ll}\p{Lm}\p{Lo}\p{M}])*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kYoutuCjk = R"([가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+)";
constexpr std::string_view kYoutu =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// DeepSeek V3 and its relatives: digits in threes, CJK runs, then words that may start with one
// ASCII punctuation character.
constexpr std::string_view kCjkKana = R"([一-龥぀-ゟ゠-ヿ]+)";
constexpr std::string_view kDeepseek3 =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kSpark25 =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+|[\r\n]|\s+(?!\S)|\s+)";
// Code points as escapes: the class holds compatibility characters (Ohm U+2126, Kelvin U+212A)
// that editors silently normalize.
constexpr std::string_view kDeepseekLlmLetters =
    R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-)"
    R"(\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-)"
    R"(\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-)"
    R"(\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77})"
    R"(\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-)"
    R"(\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE})"
    R"(\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-)"
    R"(\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124})"
    R"(\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149})"
    R"(\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3})"
    R"(\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-)"
    R"(\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F})"
    R"(\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF})"
    R"(\x{1E900}-\x{1E943}]+)";
constexpr std::string_view kDeepseekCjkHangul = R"([一-龥ࠀ-一가-퟿]+)";
constexpr std::string_view kAfmoeScripts =
    R"([一-鿿㐀-䶿豈-﫿぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+)";
// BLOOM-style: a word is anything up to a space or one of these punctuation marks.
constexpr std::string_view kBloom = R"( ?[^(\s|.,!?…。，、।۔،)]+)";
constexpr std::string_view kNewlineRuns = R"([^\n]+|[\n]+)";

// Flags per name, as llama.cpp sets them. `clean_spaces` is llama.cpp's default for its detokenizer's
// clean-up (transformers' clean_up_tokenization_spaces); it is carried, not applied: our decode is the
// `tokenizers` library's, without transformers' clean-up.
struct Flags {
  bool ignore_merges = false;
  bool add_bos = false;
  bool clean_spaces = true;
  bool escape_spaces = false;  // llama.cpp escape_whitespaces: SentencePiece-style BPE over raw UTF-8
};
constexpr Flags kPlain{};
constexpr Flags kNoClean{false, false, false, false};
constexpr Flags kIgnoreMerges{true, false, true, false};
constexpr Flags kIgnoreMergesNoClean{true, false, false, false};
constexpr Flags kLlama3Flags{true, true, true, false};
constexpr Flags kTekkenFlags{true, true, false, false};
constexpr Flags kChameleonFlags{false, true, false, false};
constexpr Flags kGemma4Flags{false, false, true, true};
constexpr Flags kSarvamFlags{false, false, false, true};

struct Row {
  std::vector<std::string_view> names;
  std::vector<std::string_view> regexes;
  Flags flags;
  bool byte_level = true;  // llama.cpp byte_encode
};

std::vector<Row> rows() {
  const std::vector<std::string_view> starcoder = {R"(\p{N})", kGpt2};
  const std::vector<std::string_view> deepseek3 = {R"(\p{N}{1,3})", kCjkKana, kDeepseek3};
  return {
      {{"default"}, {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}, kPlain},
      {{"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
        "modern-bert", "jina-v1-en", "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais", "exaone4"},
       {kGpt2},
       kPlain},
      {{"trillion", "granite-docling"}, {kGpt2}, kNoClean},
      {{"starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2"}, starcoder, kPlain},
      {{"command-r", "smollm"}, starcoder, kNoClean},
      {{"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}, kPlain},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"},
       {kLlama3},
       kLlama3Flags},
      {{"dbrx", "smaug-bpe", "chatglm-bpe"}, {kLlama3}, kPlain},
      {{"glm4", "glm5"}, {kLlama3}, kIgnoreMerges},
      {{"jais-2"}, {kJais2}, kPlain},
      {{"minicpm5"}, {R"(\p{N}{1,3})", kMiniCpm5}, kIgnoreMerges},
      {{"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open", "grok-2"}, {kQwen2}, kNoClean},
      {{"stablelm2", "megrez"}, {kQwen2}, kPlain},
      {{"qwen35"}, {kQwen35}, kNoClean},
      // Qwen2 without the contractions, so Turkish apostrophe suffixes stay on their word.
      {{"ufakzeka"}, {R"([^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}, kNoClean},
      {{"laguna"},
       {kNewlineRuns, R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
       kNoClean},
      {{"seed-coder"},
       {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)"},
       kNoClean},
      // Possessive quantifiers as in the model's tokenizer.json (llama.cpp drops them; the pieces agree).
      {{"bailingmoe", "bailingmoe2", "llada-moe"},
       {R"('(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)"},
       kNoClean},
      {{"exaone-moe"},
       {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+)"},
       kPlain},
      {{"deepseek-llm"}, {R"([\r\n])", kDeepseekLlmLetters, R"(\s?[!-/:-~！-／：-～‘-‟　-。]+)", R"(\s+$)", kDeepseekCjkHangul, R"(\p{N}+)"}, kNoClean},
      {{"deepseek-coder"}, {R"([\r\n])", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kDeepseekCjkHangul, R"(\p{N})"}, kNoClean},
      {{"deepseek-v3", "hunyuan-dense", "hy_v4", "joyai-llm"}, deepseek3, kNoClean},
      {{"spark2_5"}, {R"(\p{N}{1,3})", kCjkKana, kSpark25, R"(\p{N})"}, kNoClean},
      // llama.cpp's AFMoE digit splitter: a run of digits loses its first len % 3 digits, then threes.
      {{"afmoe"}, {R"(\p{N}{1,3}(?=(?:\p{N}{3})*(?!\p{N})))", kAfmoeScripts, kDeepseek3}, kNoClean},
      {{"youtu"}, {kYoutuCjk, kYoutu}, kIgnoreMergesNoClean},
      {{"poro-chat"}, {kBloom}, kNoClean},
      {{"viking"}, {kBloom, R"(\p{N})"}, kNoClean},
      {{"bloom", "gpt3-finnish"}, {kBloom}, kPlain},
      {{"tekken"}, {kTekken}, kTekkenFlags},
      {{"gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"}, {kGpt4o}, kNoClean},
      {{"granite-embed-multi-97m"}, {kGpt4o}, kIgnoreMergesNoClean},
      {{"tiny_aya", "cohere2moe"}, {R"(\d{1,3}(?=(?:\d{3})*\b))", kGpt4o}, kNoClean},
      {{"kimi-k2"}, {kKimiK2}, kNoClean},
      // Digit runs, then cuts before every group of three digits that ends a run.
      {{"superbpe"}, {R"(\p{N}+)", R"((?=(\d{3})+(?!\d)))"}, kNoClean},
      {{"chameleon"},
       {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", R"(\p{N})",
        R"([\p{P}!-/:-@\[-`{-~])", kGpt2},
       kChameleonFlags},
      // SentencePiece-style BPE over raw UTF-8 (spaces already U+2581): only runs of line breaks are cut off.
      {{"gemma4", "granite-embed-multi-311m"}, {kNewlineRuns}, kGemma4Flags, false},
      {{"sarvam-moe"}, {kNewlineRuns}, kSarvamFlags, false},
      {{"whitespace"}, {R"(\S+)"}, kPlain, false},
  };
}

struct NamedSpec {
  std::string_view name;
  PreTokenizerSpec spec;
};

std::vector<NamedSpec> build_table() {
  std::vector<NamedSpec> table;
  for (const Row& row : rows()) {
    PreTokenizerSpec spec;
    for (std::string_view r : row.regexes) spec.regexes.emplace_back(r);
    spec.ignore_merges = row.flags.ignore_merges;
    spec.add_bos = row.flags.add_bos;
    spec.clean_spaces = row.flags.clean_spaces;
    spec.escape_spaces = row.flags.escape_spaces;
    spec.byte_level = row.byte_level;
    for (std::string_view name : row.names) {
      spec.name = std::string(name);
      // llama.cpp's Gemma 4 fixes: BOS always added, and a run of line breaks that is a token stays whole.
      spec.always_add_bos = spec.whole_newline_runs = name == "gemma4" || name == "granite-embed-multi-311m";
      table.push_back({name, spec});
    }
  }
  return table;
}

}  // namespace

const char* const kGpt2Regex = FRUGAL_GPT2;
#undef FRUGAL_GPT2

const std::vector<std::string_view>& pre_tokenizer_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> out;
    for (const Row& row : rows())
      for (std::string_view n : row.names) out.push_back(n);
    return out;
  }();
  return names;
}

const PreTokenizerSpec* find_pre_tokenizer(std::string_view name) {
  static const std::vector<NamedSpec> table = build_table();
  for (const NamedSpec& entry : table)
    if (entry.name == name) return &entry.spec;
  return nullptr;
}

}  // namespace frugal

namespace frugal {

TextPipeline pipeline_for_pre(const std::string& name, const std::string& source) {
  const PreTokenizerSpec* spec = find_pre_tokenizer(name);
  if (!spec) fail(source, "pre", "pre-tokenizer '" + name + "' is not one llama.cpp knows");
  TextPipeline p;
  if (spec->escape_spaces) {
    NormalizerStep escape;
    escape.kind = NormalizerStep::Kind::Replace;
    escape.regex = " ";
    escape.text = "\xE2\x96\x81";
    p.normalizers.push_back(std::move(escape));
    p.space_mark = "\xE2\x96\x81";
  }
  for (const std::string& regex : spec->regexes) {
    PreTokenizerStep split;
    split.kind = PreTokenizerStep::Kind::Split;
    split.regex = regex;
    p.steps.push_back(std::move(split));
  }
  p.byte_level = spec->byte_level;
  p.ignore_merges = spec->ignore_merges;
  p.whole_newline_runs = spec->whole_newline_runs;
  p.byte_fallback = true;  // llama.cpp: <0xNN> tokens, and bytes without one are dropped
  return p;
}

std::string pre_tokenizer_name_for(const TextPipeline& p) {
  if (!p.normalizers.empty() || !p.byte_level || p.whole_newline_runs) return "";
  std::vector<std::string> regexes;
  for (const PreTokenizerStep& s : p.steps) {
    if (s.kind != PreTokenizerStep::Kind::Split || s.behavior != SplitBehavior::Isolated || s.invert) return "";
    regexes.push_back(s.regex);
  }
  for (std::string_view name : pre_tokenizer_names()) {
    const PreTokenizerSpec* spec = find_pre_tokenizer(name);
    if (spec->byte_level && spec->regexes == regexes && spec->ignore_merges == p.ignore_merges) return spec->name;
  }
  return "";
}

}  // namespace frugal
