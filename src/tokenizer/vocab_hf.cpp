// Vocabulary from a Hugging Face tokenizer folder: tokenizer.json (the `tokenizers` library's
// format) and tokenizer_config.json (transformers' BOS/EOS rules and chat template).
//
// The BPE model's normalizer, pre-tokenizer and decoder are read generically (hf_pipeline.cpp).
// Three cases follow from them:
//  * byte-level BPE (a ByteLevel pre-tokenizer; GPT-2, Llama 3, Qwen2, SmolLM): when the regex chain
//    is one a GGUF tokenizer.ggml.pre name stands for, the vocabulary takes that name, else it
//    keeps its own pipeline;
//  * SentencePiece-style BPE with byte_fallback whose spaces become U+2581 through a Prepend +
//    Replace normalizer or a Metaspace pre-tokenizer without split (Llama 2, Mistral, TinyLlama):
//    read as a SentencePiece vocabulary that merges by rank;
//  * any other pipeline over raw UTF-8 (Gemma's Replace normalizer, Metaspace with split, Split,
//    Whitespace...): BPE by rank over the pieces, unknown characters to <0xNN> or <unk>.
// A component we do not implement fails with a message naming the file, the JSON path and the type.
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/json_number.h"
#include "core/read_file.h"
#include "tokenizer/hf_pipeline.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/token_index.h"
#include "tokenizer/vocab.h"
#include "tokenizer/vocab_common.h"

namespace frugal {

namespace {

using nlohmann::json;

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";

json read_json(const std::string& path) {
  const std::string text = read_whole_file(path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    fail(path, "", std::string("not valid JSON: ") + e.what());
  }
}

std::string type_of(const json& node) {
  return node.is_object() && node.contains("type") && node["type"].is_string() ? node["type"].get<std::string>() : "";
}

// A Sequence's children, or the node itself.
std::vector<json> flatten(const json& node, const char* children_key) {
  if (node.is_null()) return {};
  if (type_of(node) == "Sequence" && node.contains(children_key) && node[children_key].is_array())
    return node[children_key].get<std::vector<json>>();
  return {node};
}

bool flag(const json& node, const char* key, bool fallback) {
  return node.contains(key) && node[key].is_boolean() ? node[key].get<bool>() : fallback;
}

// Token text from tokenizer_config.json: a string, an AddedToken object {"content": ...}, or null.
std::string config_token(const json& config, const char* key) {
  if (!config.contains(key)) return "";
  const json& t = config[key];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_object() && t.contains("content") && t["content"].is_string()) return t["content"].get<std::string>();
  return "";
}

struct HfModel {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<std::string> merges;
};

void read_model(const json& root, const std::string& path, HfModel& m) {
  const json& model = root.at("model");
  if (type_of(model) != "BPE") fail(path, "model.type", "'" + type_of(model) + "' models are not supported (only BPE)");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (model.contains(key) && model[key].is_string() && !model[key].get<std::string>().empty())
      fail(path, std::string("model.") + key, "is not supported");

  std::map<int64_t, std::string> by_id;
  for (const auto& [text, id] : model.at("vocab").items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0) fail(path, "model.vocab", "'" + text + "' has a bad id");
    if (!by_id.emplace(id.get<int64_t>(), text).second)
      fail(path, "model.vocab", "id " + std::to_string(id.get<int64_t>()) + " is used twice");
  }
  std::map<int64_t, int32_t> added_types;
  if (root.contains("added_tokens")) {
    for (const json& t : root["added_tokens"]) {
      const std::string content = t.at("content").get<std::string>();
      if (!json_fits<int64_t>(t.at("id")) || t.at("id").get<int64_t>() < 0)
        fail(path, "added_tokens", "'" + content + "' has a bad id");
      const int64_t id = t.at("id").get<int64_t>();
      auto [it, inserted] = by_id.emplace(id, content);
      if (!inserted && it->second != content)
        fail(path, "added_tokens",
             "'" + content + "' has id " + std::to_string(id) + ", which is '" + it->second + "'");
      // HF matches every added token in raw text; `special` only decides whether decoding skips it.
      added_types[id] = static_cast<int32_t>(flag(t, "special", false) ? TokenType::Control : TokenType::UserDefined);
    }
  }
  if (by_id.empty()) fail(path, "model.vocab", "the vocabulary is empty");
  const int64_t n = by_id.rbegin()->first + 1;
  if (n > (int64_t{1} << 24)) fail(path, "model.vocab", "absurd token id " + std::to_string(n - 1));
  // Ids nobody names (rare gaps) become unused tokens with no text, which never match.
  m.tokens.assign(n, "");
  m.types.assign(n, static_cast<int32_t>(TokenType::Unused));
  for (const auto& [id, text] : by_id) {
    m.tokens[id] = text;
    m.types[id] = static_cast<int32_t>(TokenType::Normal);
  }
  for (const auto& [id, type] : added_types) m.types[id] = type;

  const json& merges = model.at("merges");
  m.merges.reserve(merges.size());
  for (const json& merge : merges) {
    if (merge.is_string()) {
      m.merges.push_back(merge.get<std::string>());
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      // Newer files store pairs; ours are "a b" strings, which cannot hold a space inside the right part.
      const std::string left = merge[0].get<std::string>(), right = merge[1].get<std::string>();
      if (right.find(' ') != std::string::npos || left.find(' ', 1) != std::string::npos)
        fail(path, "model.merges", "merge of '" + left + "' and '" + right + "' contains a space");
      m.merges.push_back(left + " " + right);
    } else {
      fail(path, "model.merges", "entries must be \"a b\" strings or [\"a\", \"b\"] pairs");
    }
  }
}

// SentencePiece-style: whether the pipeline is one our SentencePiece encoder reproduces (a U+2581
// space prefix added by a Prepend + Replace normalizer or a Metaspace pre-tokenizer that does not
// split), and where the prefix goes.
bool spm_spaces(const json& root, Vocab& v) {
  const json& normalizer = root.contains("normalizer") ? root["normalizer"] : json();
  const json& pre = root.contains("pre_tokenizer") ? root["pre_tokenizer"] : json();
  bool prepend = false, replace = false;
  for (const json& n : flatten(normalizer, "normalizers")) {
    const std::string type = type_of(n);
    if (type == "Prepend" && n.value("prepend", "") == kSpaceMark) {
      prepend = true;
    } else if (type == "Replace" && n.contains("pattern") && n["pattern"].value("String", "") == " " &&
               n.value("content", "") == kSpaceMark) {
      replace = true;
    } else {
      return false;
    }
  }
  if (replace) {
    if (!pre.is_null() || !prepend) return false;  // no prefix: the generic pipeline does as well
    v.add_space_prefix = true;
    v.space_prefix_rule = SpacePrefixRule::EveryFragment;
    return true;
  }
  if (prepend || type_of(pre) != "Metaspace") return false;
  if (pre.value("replacement", std::string(kSpaceMark)) != kSpaceMark || flag(pre, "split", true)) return false;
  std::string scheme = pre.value("prepend_scheme", "");
  if (scheme.empty()) scheme = flag(pre, "add_prefix_space", true) ? "always" : "never";  // older files
  v.add_space_prefix = scheme != "never";
  if (scheme == "always")
    v.space_prefix_rule = SpacePrefixRule::MetaspaceAlways;
  else if (scheme == "first")
    v.space_prefix_rule = SpacePrefixRule::MetaspaceFirst;
  else if (scheme != "never")
    return false;
  return true;
}

// Ids of the special tokens a TemplateProcessing post-processor puts before and after a single
// text (-1 for none): how the HF tokenizer adds BOS/EOS when tokenizer_config.json does not say.
void template_specials(const json& root, int32_t& first, int32_t& last) {
  first = last = -1;
  if (!root.contains("post_processor")) return;
  for (const json& p : flatten(root["post_processor"], "processors")) {
    if (type_of(p) != "TemplateProcessing" || !p.contains("single") || !p["single"].is_array()) continue;
    const json& single = p["single"];
    auto id_of_item = [&](const json& item) -> int32_t {
      if (!item.contains("SpecialToken")) return -1;
      const std::string name = item["SpecialToken"].value("id", "");
      const json& ids = p["special_tokens"][name]["ids"];
      return ids.is_array() && ids.size() == 1 && json_fits<int32_t>(ids[0]) ? ids[0].get<int32_t>() : -1;
    };
    if (!single.empty()) first = id_of_item(single.front());
    if (single.size() > 1) last = id_of_item(single.back());
  }
}

int32_t id_of(const Vocab& v, const std::string& text, const std::string& path, const char* key) {
  if (text.empty()) return -1;
  for (size_t i = 0; i < v.tokens.size(); ++i)
    if (v.tokens[i] == text) return static_cast<int32_t>(i);
  fail(path, key, "'" + text + "' is not a token of tokenizer.json");
}

void read_config(const std::string& dir, const json& root, Vocab& v) {
  const std::string path = dir + "/tokenizer_config.json";
  const json config = std::filesystem::exists(path) ? read_json(path) : json::object();
  try {
    int32_t template_first = -1, template_last = -1;
    template_specials(root, template_first, template_last);
    v.bos_id = id_of(v, config_token(config, "bos_token"), path, "bos_token");
    v.eos_id = id_of(v, config_token(config, "eos_token"), path, "eos_token");
    v.pad_id = id_of(v, config_token(config, "pad_token"), path, "pad_token");
    const int32_t unk = id_of(v, config_token(config, "unk_token"), path, "unk_token");
    if (unk >= 0) v.unk_id = unk;
    if (v.bos_id < 0 && template_first >= 0 && template_first < static_cast<int32_t>(v.tokens.size()))
      v.bos_id = template_first;
    v.add_bos = flag(config, "add_bos_token", template_first >= 0 && template_first == v.bos_id);
    v.add_eos = flag(config, "add_eos_token", template_last >= 0 && template_last == v.eos_id);
    if (v.add_bos && v.bos_id < 0) fail(path, "add_bos_token", "BOS is to be added but bos_token is not set");
    if (v.add_eos && v.eos_id < 0) fail(path, "add_eos_token", "EOS is to be added but eos_token is not set");

    if (config.contains("chat_template")) {
      const json& t = config["chat_template"];
      if (t.is_string()) {
        v.chat_template = t.get<std::string>();
      } else if (t.is_array()) {  // named templates: the "default" one
        for (const json& named : t)
          if (named.value("name", "") == "default") v.chat_template = named.value("template", "");
      }
    }
  } catch (const json::exception& e) {
    fail(path, "", std::string("unexpected structure: ") + e.what());
  }
  const std::string jinja = dir + "/chat_template.jinja";  // where newer transformers save it
  if (v.chat_template.empty() && std::filesystem::exists(jinja)) v.chat_template = read_whole_file(jinja);
}

}  // namespace

Vocab vocab_from_hf_dir(const std::string& dir) {
  const std::string path = dir + "/tokenizer.json";
  const json root = read_json(path);
  Vocab v;
  v.source = path;
  try {
    HfModel m;
    read_model(root, path, m);
    v.tokens = std::move(m.tokens);
    v.token_types = std::move(m.types);
    v.merges = std::move(m.merges);

    const json& model = root["model"];
    TextPipeline pipeline = read_hf_pipeline(root, path);
    if (pipeline.byte_level) {
      v.kind = TokenizerKind::Bpe;
      v.add_space_prefix = false;
      v.pre = pre_tokenizer_name_for(pipeline);
      if (v.pre.empty()) v.pipeline = std::move(pipeline);
    } else if (pipeline.byte_fallback && spm_spaces(root, v)) {
      v.kind = TokenizerKind::Spm;
      v.pre = "default";
    } else {
      v.kind = TokenizerKind::Bpe;
      v.add_space_prefix = false;
      v.pre = "";
      v.pipeline = std::move(pipeline);
    }
    if (v.kind == TokenizerKind::Spm || (v.pipeline && !v.pipeline->byte_level))
      for (size_t i = 0; i < v.tokens.size(); ++i)
        if (v.token_types[i] == static_cast<int32_t>(TokenType::Normal) && byte_token_value(v.tokens[i]) >= 0)
          v.token_types[i] = static_cast<int32_t>(TokenType::Byte);
    if (model.contains("unk_token") && model["unk_token"].is_string())
      v.unk_id = id_of(v, model["unk_token"].get<std::string>(), path, "model.unk_token");
  } catch (const json::exception& e) {
    fail(path, "", std::string("unexpected structure: ") + e.what());
  }

  read_config(dir, root, v);
  if (v.unk_id >= 0 && v.token_types[v.unk_id] == static_cast<int32_t>(TokenType::Control))
    v.token_types[v.unk_id] = static_cast<int32_t>(TokenType::Unknown);
  detect_end_of_turn(v);
  return v;
}

}  // namespace frugal
