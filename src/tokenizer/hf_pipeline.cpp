#include "tokenizer/hf_pipeline.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_number.h"
#include "tokenizer/pretokenizer.h"

namespace frugal {

namespace {

using nlohmann::json;

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, the default Metaspace replacement

// Rust regex's Unicode \w (Alphabetic, marks, decimal digits, connector punctuation, joiners), which
// Hugging Face's Whitespace pre-tokenizer uses; PCRE2's \w is narrower.
constexpr std::string_view kRustWord = R"(\p{L}\p{M}\p{Nd}\p{Nl}\p{Pc}\x{200C}\x{200D})";

struct Reader {
  const std::string& path;
  TextPipeline p;
  bool byte_level_seen = false;

  std::string type_of(const json& node, const std::string& where) const {
    if (!node.is_object() || !node.contains("type") || !node["type"].is_string())
      fail(path, where, "has no \"type\"");
    return node["type"].get<std::string>();
  }
  [[noreturn]] void unsupported(const std::string& where, const std::string& type) const {
    fail(path, where, "type '" + type + "' is not supported");
  }
  static bool flag(const json& node, const char* key, bool fallback) {
    return node.contains(key) && node[key].is_boolean() ? node[key].get<bool>() : fallback;
  }
  std::string text(const json& node, const char* key, const std::string& where, std::string fallback = "") const {
    if (!node.contains(key) || node[key].is_null()) return fallback;
    if (!node[key].is_string()) fail(path, where + "." + key, "must be a string");
    return node[key].get<std::string>();
  }

  // A Split or Replace pattern: {"String": s} (taken literally) or {"Regex": r}.
  std::string pattern(const json& node, const std::string& where) const {
    const std::string at = where + ".pattern";
    if (!node.contains("pattern") || !node["pattern"].is_object()) fail(path, at, "missing");
    const json& pat = node["pattern"];
    if (pat.contains("Regex") && pat["Regex"].is_string()) return pat["Regex"].get<std::string>();
    if (pat.contains("String") && pat["String"].is_string()) {
      const std::string s = pat["String"].get<std::string>();
      if (s.empty()) fail(path, at, "an empty String pattern is not supported");
      std::string quoted;
      for (char c : s) {
        if (static_cast<unsigned char>(c) < 0x80 && !std::isalnum(static_cast<unsigned char>(c))) quoted += '\\';
        quoted += c;
      }
      return quoted;
    }
    fail(path, at, "must hold a \"String\" or a \"Regex\"");
  }

  SplitBehavior behavior(const json& node, const std::string& where, const char* fallback) const {
    const std::string b = text(node, "behavior", where, fallback);
    if (b == "Removed") return SplitBehavior::Removed;
    if (b == "Isolated") return SplitBehavior::Isolated;
    if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
    if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
    if (b == "Contiguous") return SplitBehavior::Contiguous;
    fail(path, where + ".behavior", "unknown behavior '" + b + "'");
  }

  void add_normalizer(NormalizerStep::Kind kind, std::string regex = "", std::string replacement = "", bool left = false,
                      bool right = false) {
    NormalizerStep n;
    n.kind = kind;
    n.regex = std::move(regex);
    n.text = std::move(replacement);
    n.left = left;
    n.right = right;
    p.normalizers.push_back(std::move(n));
  }

  void normalizer(const json& node, const std::string& where) {
    if (node.is_null()) return;
    const std::string type = type_of(node, where);
    if (type == "Sequence") {
      const json& list = node.contains("normalizers") ? node["normalizers"] : json();
      if (!list.is_array()) fail(path, where + ".normalizers", "must be a list");
      for (size_t i = 0; i < list.size(); ++i) normalizer(list[i], where + ".normalizers[" + std::to_string(i) + "]");
    } else if (type == "NFC") {
      // Not applied (as llama.cpp): text that is already NFC, which is nearly all text, is unchanged.
    } else if (type == "Prepend") {
      add_normalizer(NormalizerStep::Kind::Prepend, "", text(node, "prepend", where));
    } else if (type == "Replace") {
      add_normalizer(NormalizerStep::Kind::Replace, pattern(node, where), text(node, "content", where));
    } else if (type == "Lowercase") {
      add_normalizer(NormalizerStep::Kind::Lowercase);
    } else if (type == "Strip") {
      add_normalizer(NormalizerStep::Kind::Strip, "", "", flag(node, "strip_left", true), flag(node, "strip_right", true));
    } else {
      unsupported(where, type);
    }
  }

  void split(std::string regex, SplitBehavior b, bool invert = false) {
    PreTokenizerStep s;
    s.kind = PreTokenizerStep::Kind::Split;
    s.regex = std::move(regex);
    s.behavior = b;
    s.invert = invert;
    p.steps.push_back(std::move(s));
  }

  PrependScheme prepend_scheme(const json& node, const std::string& where) const {
    // Files older than tokenizers 0.14 say add_prefix_space instead.
    const std::string scheme = text(node, "prepend_scheme", where, flag(node, "add_prefix_space", true) ? "always" : "never");
    if (scheme == "always") return PrependScheme::Always;
    if (scheme == "first") return PrependScheme::First;
    if (scheme == "never") return PrependScheme::Never;
    fail(path, where + ".prepend_scheme", "unknown scheme '" + scheme + "'");
  }

  void pre_tokenizer(const json& node, const std::string& where) {
    if (node.is_null()) return;
    const std::string type = type_of(node, where);
    if (byte_level_seen && type != "Sequence")
      fail(path, where, "a '" + type + "' step after ByteLevel is not supported (it would see byte-level text)");
    if (type == "Sequence") {
      const json& list = node.contains("pretokenizers") ? node["pretokenizers"] : json();
      if (!list.is_array()) fail(path, where + ".pretokenizers", "must be a list");
      for (size_t i = 0; i < list.size(); ++i) pre_tokenizer(list[i], where + ".pretokenizers[" + std::to_string(i) + "]");
    } else if (type == "Split") {
      split(pattern(node, where), behavior(node, where, "Isolated"), flag(node, "invert", false));
    } else if (type == "ByteLevel") {
      byte_level_seen = true;
      if (flag(node, "add_prefix_space", true)) {
        PreTokenizerStep prefix;
        prefix.kind = PreTokenizerStep::Kind::PrefixSpace;
        p.steps.push_back(std::move(prefix));
      }
      if (flag(node, "use_regex", true)) split(kGpt2Regex, SplitBehavior::Isolated);
    } else if (type == "Digits") {
      split(R"(\p{N})", flag(node, "individual_digits", false) ? SplitBehavior::Isolated : SplitBehavior::Contiguous);
    } else if (type == "Punctuation") {
      split(kUnicodePunctuation, behavior(node, where, "Isolated"));
    } else if (type == "Whitespace") {
      const std::string w(kRustWord);
      const std::string space(std::string_view(kUnicodeWhitespace).substr(1, std::string_view(kUnicodeWhitespace).size() - 2));
      split("[" + w + "]+|[^" + w + space + "]+", SplitBehavior::Removed, true);
    } else if (type == "WhitespaceSplit") {
      split(kUnicodeWhitespace, SplitBehavior::Removed);
    } else if (type == "Metaspace") {
      PreTokenizerStep s;
      s.kind = PreTokenizerStep::Kind::Metaspace;
      s.text = text(node, "replacement", where, std::string(kSpaceMark));
      if (s.text.empty()) fail(path, where + ".replacement", "must not be empty");
      s.prepend = prepend_scheme(node, where);
      s.split = flag(node, "split", true);
      p.steps.push_back(std::move(s));
    } else {
      unsupported(where, type);
    }
  }

  void decoder(const json& node, const std::string& where) {
    if (node.is_null()) return;
    const std::string type = type_of(node, where);
    if (type == "Sequence") {
      const json& list = node.contains("decoders") ? node["decoders"] : json();
      if (!list.is_array()) fail(path, where + ".decoders", "must be a list");
      for (size_t i = 0; i < list.size(); ++i) decoder(list[i], where + ".decoders[" + std::to_string(i) + "]");
    } else if (type == "ByteLevel" || type == "ByteFallback" || type == "Fuse") {
      // Byte-level text back to bytes / <0xNN> tokens to their byte / pieces joined: what our decode does.
    } else if (type == "Metaspace") {
      p.space_mark = text(node, "replacement", where, std::string(kSpaceMark));
      if (prepend_scheme(node, where) != PrependScheme::Never) p.strip_leading_spaces = 1;
    } else if (type == "Replace") {
      const json& pat = node.contains("pattern") ? node["pattern"] : json();
      if (!pat.is_object() || !pat.contains("String") || text(node, "content", where) != " ")
        fail(path, where, "a Replace decoder is supported only from a String to a space");
      p.space_mark = pat["String"].get<std::string>();
    } else if (type == "Strip") {
      for (const char* key : {"start", "stop"})
        if (node.contains(key) && !json_fits<int>(node[key])) fail(path, where, std::string(key) + " must be a small integer");
      const int start = node.value("start", 0), stop = node.value("stop", 0);
      if (text(node, "content", where) != " " || start > 1 || stop != 0)
        fail(path, where, "a Strip decoder is supported only for one leading space");
      p.strip_leading_spaces = start;
    } else {
      unsupported(where, type);
    }
  }
};

}  // namespace

TextPipeline read_hf_pipeline(const json& root, const std::string& path) {
  Reader r{path, {}};
  r.normalizer(root.contains("normalizer") ? root["normalizer"] : json(), "normalizer");
  r.pre_tokenizer(root.contains("pre_tokenizer") ? root["pre_tokenizer"] : json(), "pre_tokenizer");
  r.decoder(root.contains("decoder") ? root["decoder"] : json(), "decoder");
  r.p.byte_level = r.byte_level_seen;
  const json& model = root.at("model");
  r.p.ignore_merges = Reader::flag(model, "ignore_merges", false);
  r.p.byte_fallback = Reader::flag(model, "byte_fallback", false);
  r.p.fuse_unk = Reader::flag(model, "fuse_unk", false);
  return r.p;
}

}  // namespace frugal
