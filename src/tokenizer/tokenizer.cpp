#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <optional>

#include "core/error.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/spm.h"
#include "tokenizer/token_index.h"
#include "tokenizer/unicode.h"
#include "tokenizer/vocab_common.h"

namespace frugal {

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

// A piece of the input: raw text, or a special token cut out of it.
struct Fragment {
  size_t begin, size;  // byte range in the input
  int32_t token;       // >= 0: this range is that special token
};

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (true) {
    const size_t hit = text.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(text.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(text.substr(pos));
  return out;
}

}  // namespace

struct Tokenizer::Impl {
  Vocab vocab;
  TokenIndex index;
  std::optional<PreTokenizer> pre;  // BPE only
  std::vector<std::string> pieces;  // token_to_piece(id, false) for every id
  std::vector<int32_t> end_ids;     // sorted: EOS, EOT and the other end-of-generation tokens

  // llama.cpp's tokenizer_st_partition: for each special token, longest first, cut every raw
  // fragment at each of its occurrences. Control and unknown tokens count only with parse_special;
  // user-defined ones always (as Hugging Face does with added tokens).
  std::vector<Fragment> partition(std::string_view text, bool parse_special) const {
    std::vector<Fragment> fragments;
    if (text.empty()) return fragments;
    fragments.push_back({0, text.size(), -1});
    std::vector<Fragment> next;
    for (int32_t id : index.specials) {
      const TokenType type = index.types[id];
      if (!parse_special && (type == TokenType::Control || type == TokenType::Unknown)) continue;
      const std::string& special = vocab.tokens[id];
      next.clear();
      for (const Fragment& f : fragments) {
        if (f.token >= 0) {
          next.push_back(f);
          continue;
        }
        const size_t end = f.begin + f.size;
        const std::string_view searched = text.substr(0, end);
        size_t pos = f.begin;
        for (size_t hit; (hit = searched.find(special, pos)) != std::string_view::npos; pos = hit + special.size()) {
          if (hit > pos) next.push_back({pos, hit - pos, -1});
          next.push_back({hit, special.size(), id});
        }
        if (pos < end) next.push_back({pos, end - pos, -1});
      }
      fragments.swap(next);
    }
    return fragments;
  }

  bool wants_space_prefix(std::string_view text, const Fragment& f, bool after_special) const {
    if (vocab.kind != TokenizerKind::Spm || !vocab.add_space_prefix) return false;
    const bool starts_with_space = text[f.begin] == ' ';
    switch (vocab.space_prefix_rule) {
      case SpacePrefixRule::EveryFragment:
        return after_special;
      case SpacePrefixRule::MetaspaceAlways:
        return !starts_with_space;
      case SpacePrefixRule::MetaspaceFirst:
        return f.begin == 0 && !starts_with_space;
    }
    return false;
  }

  std::string make_piece(int32_t id, bool keep_special) const {
    const std::string& text = vocab.tokens[id];
    switch (index.types[id]) {
      case TokenType::Control:
      case TokenType::Unknown:
        return keep_special ? text : std::string();
      case TokenType::Unused:
      case TokenType::Undefined:
        return std::string();
      case TokenType::UserDefined:
        return text;
      case TokenType::Byte: {
        const int value = byte_token_value(text);
        return value >= 0 ? std::string(1, static_cast<char>(value)) : text;
      }
      case TokenType::Normal:
        break;
    }
    // SentencePiece-style vocabularies (and BPE ones over raw UTF-8 with escaped spaces) spell a
    // space as U+2581; byte-level BPE spells bytes in GPT-2's alphabet (llama.cpp's token_to_piece).
    if (vocab.kind == TokenizerKind::Spm) return replace_all(text, kSpaceMark, " ");
    const TextPipeline& p = pre->pipeline();
    if (p.byte_level) return alphabet_to_bytes(text);
    return p.space_mark.empty() ? text : replace_all(text, p.space_mark, " ");
  }

  void check_id(int32_t id) const {
    if (id < 0 || id >= static_cast<int32_t>(vocab.tokens.size()))
      fail("decode: token id " + std::to_string(id) + " is outside the vocabulary (" +
           std::to_string(vocab.tokens.size()) + " tokens)");
  }

  bool strips_first_space() const {
    if (vocab.kind == TokenizerKind::Spm) return vocab.add_space_prefix;
    return pre->pipeline().strip_leading_spaces > 0;
  }
};

Tokenizer::Tokenizer(Vocab vocab) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.vocab = std::move(vocab);
  m.index = build_token_index(m.vocab);
  if (m.vocab.kind == TokenizerKind::Bpe) {
    if (m.vocab.merges.empty()) fail(m.vocab.source, "merges", "a BPE vocabulary needs merges");
    m.pre.emplace(m.vocab.pipeline ? *m.vocab.pipeline : pipeline_for_pre(m.vocab.pre, m.vocab.source), m.vocab.source);
  }
  const auto n = static_cast<int32_t>(m.vocab.tokens.size());
  m.pieces.resize(n);
  for (int32_t id = 0; id < n; ++id) m.pieces[id] = m.make_piece(id, false);

  for (int32_t id : {m.vocab.eos_id, m.vocab.eot_id})
    if (id >= 0) m.end_ids.push_back(id);
  for (std::string_view text : end_of_generation_texts()) {
    const int32_t id = m.index.find(text);
    if (id >= 0 && m.index.types[id] == TokenType::Control) m.end_ids.push_back(id);
  }
  std::sort(m.end_ids.begin(), m.end_ids.end());
  m.end_ids.erase(std::unique(m.end_ids.begin(), m.end_ids.end()), m.end_ids.end());
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  const Impl& m = *impl_;
  const size_t bad = utf8_invalid_offset(text);
  if (bad != std::string_view::npos) fail("tokenize: text is not valid UTF-8 at byte " + std::to_string(bad));

  std::vector<int32_t> out;
  if (add_special && m.vocab.add_bos) out.push_back(m.vocab.bos_id);
  bool after_special = true;  // the start of the text counts as following a special token
  for (const Fragment& f : m.partition(text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      after_special = true;
      continue;
    }
    const std::string_view raw = text.substr(f.begin, f.size);
    if (m.vocab.kind == TokenizerKind::Spm) {
      std::string escaped = m.wants_space_prefix(text, f, after_special) ? std::string(kSpaceMark) : std::string();
      escaped += replace_all(raw, " ", kSpaceMark);
      spm_encode(m.vocab, m.index, escaped, out);
    } else {
      bpe_encode(m.vocab, m.index, *m.pre, raw, f.begin == 0, out);
    }
    after_special = false;
  }
  if (add_special && m.vocab.add_eos) out.push_back(m.vocab.eos_id);
  return out;
}

std::string Tokenizer::token_to_piece(int32_t id, bool keep_special) const {
  impl_->check_id(id);
  return keep_special ? impl_->make_piece(id, true) : impl_->pieces[id];
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool keep_special) const {
  const Impl& m = *impl_;
  std::string out;
  bool first = true;
  for (int32_t id : ids) {
    m.check_id(id);
    const std::string piece = keep_special ? m.make_piece(id, true) : m.pieces[id];
    if (piece.empty()) continue;
    const bool strip = first && m.strips_first_space() && piece[0] == ' ';
    out.append(piece, strip ? 1 : 0);
    first = false;
  }
  return out;
}

std::string Tokenizer::stream_piece(int32_t prev_id, int32_t id) const {
  const Impl& m = *impl_;
  m.check_id(id);
  std::string piece = m.pieces[id];
  if (m.strips_first_space() && (prev_id < 0 || prev_id == m.vocab.bos_id) && !piece.empty() && piece[0] == ' ')
    piece.erase(0, 1);
  return piece;
}

const Vocab& Tokenizer::vocab() const {
  return impl_->vocab;
}
int32_t Tokenizer::size() const {
  return static_cast<int32_t>(impl_->vocab.tokens.size());
}
int32_t Tokenizer::bos_id() const {
  return impl_->vocab.bos_id;
}
int32_t Tokenizer::eos_id() const {
  return impl_->vocab.eos_id;
}
int32_t Tokenizer::eot_id() const {
  return impl_->vocab.eot_id;
}

bool Tokenizer::is_end_of_generation(int32_t id) const {
  return std::binary_search(impl_->end_ids.begin(), impl_->end_ids.end(), id);
}

int32_t Tokenizer::find_token(std::string_view text) const {
  return impl_->index.find(text);
}

}  // namespace frugal
