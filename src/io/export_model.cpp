#include "io/export_model.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/read_file.h"
#include "core/half.h"
#include "io/bnb_4bit.h"
#include "io/bnb_int8.h"
#include "io/gguf_lora.h"
#include "io/gguf_rope.h"
#include "io/hf_rope.h"
#include "format/gguf_writer.h"
#include "format/safetensors.h"
#include "io/tensor_names.h"
#include "model/families.h"
#include "tokenizer/pretokenizer.h"

namespace frugal {

namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// LLAMA_FTYPE_* of llama.h, for general.file_type.
uint32_t file_type(ExportDtype d) {
  switch (d) {
    case ExportDtype::F32: return 0;
    case ExportDtype::F16: return 1;
    case ExportDtype::Q8_0: return 7;
    case ExportDtype::BF16: return 32;
  }
  return 0;
}

int32_t type_of_token(const Vocab& v, size_t id) {
  return v.token_types.empty() ? static_cast<int32_t>(TokenType::Normal) : v.token_types[id];
}

bool is_normal(const Vocab& v, size_t id) {
  const int32_t t = type_of_token(v, id);
  return t == static_cast<int32_t>(TokenType::Normal) || t == static_cast<int32_t>(TokenType::Undefined);
}

// Byte offsets where a UTF-8 character starts, after the first one.
std::vector<size_t> char_boundaries(const std::string& s) {
  std::vector<size_t> out;
  for (size_t i = 1; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) out.push_back(i);
  return out;
}

std::pair<std::string, std::string> split_merge(const std::string& merge, const std::string& source) {
  // A merge is "left right"; the left part may itself start with a space character only at 0.
  const size_t space = merge.find(' ', 1);
  if (space == std::string::npos) fail(source, "merges", "'" + merge + "' is not \"left right\"");
  return {merge.substr(0, space), merge.substr(space + 1)};
}

// The float's shortest decimal form as a double, so JSON says 1e-05 and not 9.999999747378752e-06.
double json_number(float x) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, x).ptr;
  return std::strtod(std::string(buf, end).c_str(), nullptr);
}

}  // namespace

// ---- GGUF ----

GgmlType export_ggml_type(ExportDtype d) {
  switch (d) {
    case ExportDtype::F32: return GgmlType::F32;
    case ExportDtype::F16: return GgmlType::F16;
    case ExportDtype::BF16: return GgmlType::BF16;
    case ExportDtype::Q8_0: return GgmlType::Q8_0;
  }
  return GgmlType::F32;
}

void set_gguf_model_metadata(GgufWriter& w, const LlamaConfig& c, const std::string& name, ExportDtype dtype) {
  const std::string a = c.architecture + ".";
  w.set_string("general.architecture", c.architecture);
  if (!name.empty()) w.set_string("general.name", name);
  w.set_u32("general.file_type", file_type(dtype));
  if (dtype == ExportDtype::Q8_0) w.set_u32("general.quantization_version", 2);  // GGML_QNT_VERSION
  w.set_u32(a + "context_length", static_cast<uint32_t>(c.context_length));
  w.set_u32(a + "embedding_length", static_cast<uint32_t>(c.dim));
  w.set_u32(a + "block_count", static_cast<uint32_t>(c.n_layers));
  w.set_u32(a + "feed_forward_length", static_cast<uint32_t>(c.ffn_dim));
  w.set_u32(a + "attention.head_count", static_cast<uint32_t>(c.n_heads));
  w.set_u32(a + "attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
  w.set_u32(a + "rope.dimension_count", static_cast<uint32_t>(c.head_dim));
  if (c.head_dim * c.n_heads != c.dim) {  // llama.cpp derives head_dim from these when they differ
    w.set_u32(a + "attention.key_length", static_cast<uint32_t>(c.head_dim));
    w.set_u32(a + "attention.value_length", static_cast<uint32_t>(c.head_dim));
  }
  w.set_f32(a + "attention.layer_norm_rms_epsilon", c.rms_eps);
  w.set_f32(a + "rope.freq_base", c.rope_theta);
  set_gguf_rope_metadata(w, c.rope_scaling, a, name);
  if (c.sliding_window > 0) {
    w.set_u32(a + "attention.sliding_window", static_cast<uint32_t>(c.sliding_window));
    if (c.sliding_window_pattern > 0)
      w.set_u32(a + "attention.sliding_window_pattern", static_cast<uint32_t>(c.sliding_window_pattern));
  }
  if (c.rope_local_theta > 0) w.set_f32(a + "rope.freq_base_swa", c.rope_local_theta);
  w.set_u32(a + "vocab_size", static_cast<uint32_t>(c.vocab_size));
}

// What a GGUF cannot say about a config (llama.cpp derives it from the architecture instead).
void check_gguf_can_describe(const LlamaConfig& c, const std::string& path, std::vector<std::string>& notes) {
  const ModelFamily& family = family_of_architecture(c.architecture, path);
  if (family.fused_projections)
    fail(path, "", "writing " + c.architecture + " (fused qkv/gate_up projections) as GGUF is not supported yet");
  if (c.attention_scale_or_default() != 1.0f / std::sqrt(static_cast<float>(c.head_dim)))
    fail(path, "", "GGUF cannot store an attention scale other than 1/sqrt(head_dim) (query_pre_attn_scalar); "
                   "write a Hugging Face folder instead");
  if (c.sliding_window > 0 && family.architecture == "llama")
    notes.push_back("sliding window " + std::to_string(c.sliding_window) +
                    " written, but llama.cpp's llama architecture ignores it (frugal reads it)");
}

void set_gguf_tokenizer_metadata(GgufWriter& w, const Vocab& vocab, int64_t vocab_size,
                                 std::vector<std::string>& notes) {
  if (static_cast<int64_t>(vocab.tokens.size()) > vocab_size)
    fail(vocab.source, "", "the tokenizer has " + std::to_string(vocab.tokens.size()) +
                               " tokens but the model's embedding only " + std::to_string(vocab_size) + " rows");
  // llama.cpp needs one token per embedding row; HF models often pad the embedding beyond the
  // tokenizer, and llama.cpp's converter fills the gap with unused "[PAD<id>]" tokens, as we do.
  Vocab v = vocab;
  const size_t n = static_cast<size_t>(vocab_size);
  if (v.tokens.size() < n) {
    notes.push_back("tokenizer: " + std::to_string(n - v.tokens.size()) + " unused [PAD<id>] tokens added to fill the " +
                    std::to_string(n) + " embedding rows");
    if (v.token_types.empty()) v.token_types.assign(v.tokens.size(), static_cast<int32_t>(TokenType::Normal));
    if (v.kind == TokenizerKind::Spm && v.scores.empty()) v.scores = spm_scores_from_merges(v);
    for (size_t id = v.tokens.size(); id < n; ++id) {
      v.tokens.push_back("[PAD" + std::to_string(id) + "]");
      v.token_types.push_back(static_cast<int32_t>(TokenType::Unused));
      if (!v.scores.empty()) v.scores.push_back(-1000.0f);  // never preferred by score-ordered merging
    }
  }
  const bool spm = v.kind == TokenizerKind::Spm;
  if (!spm && v.pipeline)
    fail(v.source, "pre_tokenizer", "this pipeline has no GGUF tokenizer.ggml.pre name that llama.cpp knows");
  w.set_string("tokenizer.ggml.model", spm ? "llama" : "gpt2");
  w.set_string("tokenizer.ggml.pre", spm ? "default" : v.pre);
  w.set("tokenizer.ggml.tokens", gguf_value_string_array(v.tokens));
  if (spm) {
    // llama.cpp merges SentencePiece vocabularies by score; one that came with merges instead gets
    // scores that give the same order.
    const std::vector<float> scores = !v.scores.empty() ? v.scores : spm_scores_from_merges(v);
    w.set("tokenizer.ggml.scores", gguf_value_f32_array(scores));
    if (v.space_prefix_rule != SpacePrefixRule::EveryFragment)
      notes.push_back("tokenizer: GGUF cannot say Metaspace's prepend_scheme; llama.cpp adds the space prefix to "
                      "every fragment of text (differs for text that starts with a space or follows a special token)");
  } else {
    if (!v.scores.empty()) w.set("tokenizer.ggml.scores", gguf_value_f32_array(v.scores));
  }
  std::vector<int32_t> types(n, static_cast<int32_t>(TokenType::Normal));
  if (!v.token_types.empty()) types = v.token_types;
  w.set("tokenizer.ggml.token_type", gguf_value_i32_array(types));
  if (!spm) w.set("tokenizer.ggml.merges", gguf_value_string_array(v.merges));
  const auto id = [&](const char* key, int32_t value) {
    if (value >= 0) w.set_u32(key, static_cast<uint32_t>(value));
  };
  id("tokenizer.ggml.bos_token_id", v.bos_id);
  id("tokenizer.ggml.eos_token_id", v.eos_id);
  id("tokenizer.ggml.unknown_token_id", v.unk_id);
  id("tokenizer.ggml.padding_token_id", v.pad_id);
  id("tokenizer.ggml.eot_token_id", v.eot_id);
  w.set_bool("tokenizer.ggml.add_bos_token", v.add_bos);
  w.set_bool("tokenizer.ggml.add_eos_token", v.add_eos);
  if (spm) w.set_bool("tokenizer.ggml.add_space_prefix", v.add_space_prefix);
  if (!v.chat_template.empty()) w.set_string("tokenizer.chat_template", v.chat_template);
}

namespace {

// ---- Hugging Face ----

std::string torch_dtype_name(ExportDtype dtype) {
  return dtype == ExportDtype::BF16 ? "bfloat16" : dtype == ExportDtype::F16 ? "float16" : "float32";
}

ojson hf_config(const Model& model, ExportDtype dtype) {
  const LlamaConfig& c = model.config;
  const Vocab& v = model.tokenizer->vocab();
  const ModelFamily& family = family_of_architecture(c.architecture, model.path);
  const bool gemma = c.activation == MlpActivation::GeluTanh;
  ojson j;
  j["architectures"] = {std::string(family.hf_class)};
  j["model_type"] = std::string(family.hf_model_types.front());
  j["attention_bias"] = c.qkv_bias;
  j["attention_dropout"] = 0.0;
  j["bos_token_id"] = v.bos_id >= 0 ? ojson(v.bos_id) : ojson(nullptr);
  j["eos_token_id"] = v.eos_id >= 0 ? ojson(v.eos_id) : ojson(nullptr);
  j["pad_token_id"] = v.pad_id >= 0 ? ojson(v.pad_id) : ojson(nullptr);
  j["head_dim"] = c.head_dim;
  j[gemma ? "hidden_activation" : "hidden_act"] = gemma ? "gelu_pytorch_tanh" : "silu";
  j["hidden_size"] = c.dim;
  j["initializer_range"] = 0.02;
  j["intermediate_size"] = c.ffn_dim;
  j["max_position_embeddings"] = c.context_length;
  j["mlp_bias"] = false;
  j["num_attention_heads"] = c.n_heads;
  j["num_hidden_layers"] = c.n_layers;
  j["num_key_value_heads"] = c.n_kv_heads;
  j["pretraining_tp"] = 1;
  j["rms_norm_eps"] = json_number(c.rms_eps);
  // rope_theta / rope_scaling / torch_dtype: the spelling every transformers version reads (5.x
  // converts them to rope_parameters / dtype).
  rope_scaling_to_hf(c.rope_scaling, j, model.path);
  j["rope_theta"] = json_number(c.rope_theta);
  if (c.sliding_window > 0) {
    j["sliding_window"] = c.sliding_window;
    if (c.sliding_window_pattern > 0) {
      j["sliding_window_pattern"] = c.sliding_window_pattern;
      ojson types = ojson::array();
      for (int64_t l = 0; l < c.n_layers; ++l) types.push_back(c.layer_slides(l) ? "sliding_attention" : "full_attention");
      j["layer_types"] = types;
    }
  } else if (family.architecture != "llama") {
    j["sliding_window"] = nullptr;
    j["use_sliding_window"] = false;
  }
  if (gemma) {
    const float s = c.attention_scale_or_default();
    j["query_pre_attn_scalar"] = json_number(1.0f / (s * s));
    j["rope_local_base_freq"] = json_number(c.rope_local_theta > 0 ? c.rope_local_theta : c.rope_theta);
    j["attn_logit_softcapping"] = nullptr;
    j["final_logit_softcapping"] = nullptr;
  }
  j["tie_word_embeddings"] = c.tied_output;
  j["torch_dtype"] = torch_dtype_name(dtype);
  j["use_cache"] = true;
  j["vocab_size"] = c.vocab_size;
  return j;
}

ojson added_token(size_t id, const std::string& content, bool special) {
  return {{"id", id},          {"content", content}, {"single_word", false}, {"lstrip", false},
          {"rstrip", false},   {"normalized", false}, {"special", special}};
}

ojson spm_decoder(bool strip_first_space) {
  ojson steps = ojson::array();
  steps.push_back({{"type", "Replace"}, {"pattern", {{"String", kSpaceMark}}}, {"content", " "}});
  steps.push_back({{"type", "ByteFallback"}});
  steps.push_back({{"type", "Fuse"}});
  if (strip_first_space) steps.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
  return {{"type", "Sequence"}, {"decoders", steps}};
}

ojson byte_level_step(bool use_regex) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", use_regex}};
}

// The tokenizer.json pre-tokenizer for one of our byte-level pre-tokenizer names.
ojson byte_level_pre_tokenizer(const Vocab& v) {
  if (v.pipeline) fail(v.source, "pre_tokenizer", "writing a pipeline of its own back to tokenizer.json is not supported");
  const PreTokenizerSpec* spec = find_pre_tokenizer(v.pre);
  if (!spec) fail(v.source, "pre", "pre-tokenizer '" + v.pre + "' is unknown");
  if (!spec->byte_level)
    fail(v.source, "pre", "pre-tokenizer '" + v.pre + "' works on raw UTF-8, which has no byte-level tokenizer.json form here");
  const auto& rx = spec->regexes;
  if (rx.size() == 1 && rx[0] == kGpt2Regex) return byte_level_step(true);
  if (rx.size() == 2 && rx[0] == R"(\p{N})" && rx[1] == kGpt2Regex)
    return {{"type", "Sequence"},
            {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}, byte_level_step(true)}}};
  if (rx.size() == 1)
    return {{"type", "Sequence"},
            {"pretokenizers",
             {{{"type", "Split"}, {"pattern", {{"Regex", rx[0]}}}, {"behavior", "Isolated"}, {"invert", false}},
              byte_level_step(false)}}};
  fail(v.source, "pre", "pre-tokenizer '" + v.pre + "' has no tokenizer.json form here (it chains several regexes)");
}

// BOS / EOS around each text, as transformers' Llama tokenizers build it.
ojson post_processor(const Vocab& v) {
  const bool bos = v.add_bos && v.bos_id >= 0, eos = v.add_eos && v.eos_id >= 0;
  ojson single = ojson::array(), pair = ojson::array(), specials = ojson::object();
  const auto special = [&](int32_t id, int type_id) {
    const std::string& text = v.tokens[static_cast<size_t>(id)];
    specials[text] = {{"id", text}, {"ids", {id}}, {"tokens", {text}}};
    return ojson{{"SpecialToken", {{"id", text}, {"type_id", type_id}}}};
  };
  for (int type_id = 0; type_id < 2; ++type_id) {
    ojson& seq = type_id == 0 ? single : pair;
    for (int part = 0; part < (type_id == 0 ? 1 : 2); ++part) {
      if (bos) seq.push_back(special(v.bos_id, part));
      seq.push_back({{"Sequence", {{"id", part == 0 ? "A" : "B"}, {"type_id", part}}}});
      if (eos) seq.push_back(special(v.eos_id, part));
    }
  }
  return {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", specials}};
}

}  // namespace

ExportDtype parse_export_dtype(const std::string& name) {
  std::string s = name;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (s == "f32" || s == "fp32" || s == "float32") return ExportDtype::F32;
  if (s == "f16" || s == "fp16" || s == "float16") return ExportDtype::F16;
  if (s == "bf16" || s == "bfloat16") return ExportDtype::BF16;
  if (s == "q8_0" || s == "q8") return ExportDtype::Q8_0;
  fail("dtype", "", "unknown export type '" + name + "' (f32, f16, bf16, q8_0)");
}

std::string export_dtype_name(ExportDtype dtype) {
  switch (dtype) {
    case ExportDtype::F32: return "f32";
    case ExportDtype::F16: return "f16";
    case ExportDtype::BF16: return "bf16";
    case ExportDtype::Q8_0: return "q8_0";
  }
  return "?";
}

std::vector<std::pair<std::string, std::string>> spm_merges(const Vocab& v) {
  std::map<std::string_view, size_t> normal;
  for (size_t i = 0; i < v.tokens.size(); ++i)
    if (is_normal(v, i) && !v.tokens[i].empty()) normal.emplace(v.tokens[i], i);
  std::vector<size_t> order;
  for (const auto& [text, id] : normal) order.push_back(id);
  const auto score = [&](size_t id) { return v.scores.empty() ? -static_cast<float>(id) : v.scores[id]; };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return score(a) != score(b) ? score(a) > score(b) : a < b;
  });
  std::vector<std::pair<std::string, std::string>> merges;
  for (size_t id : order) {
    const std::string& t = v.tokens[id];
    for (size_t cut : char_boundaries(t)) {
      std::string left = t.substr(0, cut), right = t.substr(cut);
      if (normal.count(left) && normal.count(right)) merges.emplace_back(std::move(left), std::move(right));
    }
  }
  return merges;
}

std::vector<float> spm_scores_from_merges(const Vocab& v) {
  std::map<std::string, size_t> rank;  // merged text -> first rank that makes it
  for (size_t i = 0; i < v.merges.size(); ++i) {
    const auto [left, right] = split_merge(v.merges[i], v.source);
    rank.emplace(left + right, i);
  }
  std::vector<float> scores(v.tokens.size(), 0.0f);
  const float lowest = -static_cast<float>(v.merges.size() + 1);
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (!is_normal(v, i)) continue;
    auto it = rank.find(v.tokens[i]);
    scores[i] = it != rank.end() ? -static_cast<float>(it->second) : lowest;
  }
  return scores;
}

std::string hf_tokenizer_json(const Vocab& v) {
  const bool spm = v.kind == TokenizerKind::Spm;
  ojson root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  ojson added = ojson::array();
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    const int32_t t = type_of_token(v, i);
    if (t == static_cast<int32_t>(TokenType::Control) || t == static_cast<int32_t>(TokenType::Unknown))
      added.push_back(added_token(i, v.tokens[i], true));
    else if (t == static_cast<int32_t>(TokenType::UserDefined))
      added.push_back(added_token(i, v.tokens[i], false));
  }
  root["added_tokens"] = added;

  if (spm) {
    if (v.space_prefix_rule == SpacePrefixRule::EveryFragment) {
      // Llama 2's form: a Prepend + Replace normalizer runs on every piece of text between special
      // tokens, as llama.cpp and SentencePiece add the prefix.
      ojson steps = ojson::array();
      if (v.add_space_prefix) steps.push_back({{"type", "Prepend"}, {"prepend", kSpaceMark}});
      steps.push_back({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSpaceMark}});
      root["normalizer"] = {{"type", "Sequence"}, {"normalizers", steps}};
      root["pre_tokenizer"] = nullptr;
    } else {
      root["normalizer"] = nullptr;
      root["pre_tokenizer"] = {{"type", "Metaspace"},
                               {"replacement", kSpaceMark},
                               {"prepend_scheme", v.space_prefix_rule == SpacePrefixRule::MetaspaceFirst ? "first" : "always"},
                               {"split", false}};
    }
  } else {
    root["normalizer"] = nullptr;
    root["pre_tokenizer"] = byte_level_pre_tokenizer(v);
  }
  root["post_processor"] = post_processor(v);
  root["decoder"] = spm ? spm_decoder(v.add_space_prefix) : byte_level_step(true);

  ojson model;
  model["type"] = "BPE";
  model["dropout"] = nullptr;
  model["unk_token"] = spm && v.unk_id >= 0 ? ojson(v.tokens[static_cast<size_t>(v.unk_id)]) : ojson(nullptr);
  model["continuing_subword_prefix"] = nullptr;
  model["end_of_word_suffix"] = nullptr;
  model["fuse_unk"] = spm;
  model["byte_fallback"] = spm;
  const PreTokenizerSpec* spec = spm ? nullptr : find_pre_tokenizer(v.pre);
  model["ignore_merges"] = spec && spec->ignore_merges;
  ojson vocab = ojson::object();
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (v.tokens[i].empty() && type_of_token(v, i) == static_cast<int32_t>(TokenType::Unused)) continue;  // a gap
    if (vocab.contains(v.tokens[i]))
      fail(v.source, "token " + std::to_string(i), "'" + v.tokens[i] + "' appears twice; tokenizer.json cannot hold that");
    vocab[v.tokens[i]] = i;
  }
  model["vocab"] = std::move(vocab);
  std::vector<std::pair<std::string, std::string>> merges;
  if (spm && v.merges.empty()) merges = spm_merges(v);
  else
    for (const std::string& m : v.merges) merges.push_back(split_merge(m, v.source));
  // "a b" strings are read by every tokenizers version; pairs only where a part holds a space.
  const bool as_pairs = std::any_of(merges.begin(), merges.end(), [](const auto& m) {
    return m.first.find(' ') != std::string::npos || m.second.find(' ') != std::string::npos;
  });
  ojson merge_list = ojson::array();
  for (const auto& [l, r] : merges) merge_list.push_back(as_pairs ? ojson::array({l, r}) : ojson(l + " " + r));
  model["merges"] = std::move(merge_list);
  root["model"] = std::move(model);
  try {
    return root.dump(2) + "\n";
  } catch (const nlohmann::json::exception& e) {
    fail(v.source, "", std::string("a token is not valid UTF-8, which tokenizer.json cannot hold: ") + e.what());
  }
}

std::string hf_tokenizer_config_json(const Vocab& v, int64_t context_length) {
  const auto token = [&](int32_t id) { return id >= 0 ? ojson(v.tokens[static_cast<size_t>(id)]) : ojson(nullptr); };
  ojson j;
  j["add_bos_token"] = v.add_bos;
  j["add_eos_token"] = v.add_eos;
  j["bos_token"] = token(v.bos_id);
  j["eos_token"] = token(v.eos_id);
  j["unk_token"] = token(v.unk_id);
  j["pad_token"] = token(v.pad_id);
  if (!v.chat_template.empty()) j["chat_template"] = v.chat_template;
  j["clean_up_tokenization_spaces"] = false;
  j["model_max_length"] = context_length;
  // The generic fast tokenizer uses tokenizer.json exactly as written; model-specific classes may
  // rebuild the normalizer from their own flags.
  j["tokenizer_class"] = "PreTrainedTokenizerFast";
  return j.dump(2) + "\n";
}

std::vector<std::string> export_gguf(const Model& model, const std::string& path, ExportDtype dtype) {
  const LlamaConfig& c = model.config;
  std::vector<std::string> notes;
  GgufWriter w;
  check_gguf_can_describe(c, path, notes);
  set_gguf_model_metadata(w, c, model.name, dtype);
  set_gguf_tokenizer_metadata(w, model.tokenizer->vocab(), c.vocab_size, notes);
  add_gguf_rope_tensors(w, c.rope_scaling, c.rope_theta, c.head_dim);  // Llama 3's rope_freqs, LongRoPE's factors

  const bool permute = gguf_permutes_rotary_rows(c.architecture);
  // weight_slots only takes addresses; nothing is written through them here.
  for (const WeightSlot& s : weight_slots(c, const_cast<LlamaWeights&>(model.weights))) {
    const std::string name = gguf_tensor_name(s.role, s.layer);
    const bool vector = is_vector_role(s.role);
    std::vector<int64_t> shape = vector ? std::vector<int64_t>{s.rows} : std::vector<int64_t>{s.rows, s.cols};
    GgmlType type = vector ? GgmlType::F32 : export_ggml_type(dtype);
    if (type == GgmlType::Q8_0 && s.cols % 32 != 0) {
      type = GgmlType::F16;
      notes.push_back(name + ": row length " + std::to_string(s.cols) + " is not a multiple of 32, written as F16");
    }
    std::vector<float> dequantized;  // a compact linear weight, expanded one tensor at a time
    if (is_linear_role(s.role) && linear_weight(model.weights, s.role, s.layer).compact()) {
      dequantized.resize(static_cast<size_t>(s.rows * s.cols));
      linear_weight(model.weights, s.role, s.layer).dequantize_into(dequantized.data());
    }
    const std::span<const float> values(dequantized.empty() ? s.data : dequantized.data(), static_cast<size_t>(s.rows * s.cols));
    const bool rotary = s.role == WeightRole::Wq || s.role == WeightRole::Wk || s.role == WeightRole::Bq ||
                        s.role == WeightRole::Bk;
    if (permute && rotary) {
      std::vector<float> meta(values.begin(), values.end());
      const int64_t heads = s.role == WeightRole::Wq || s.role == WeightRole::Bq ? c.n_heads : c.n_kv_heads;
      permute_rows_hf_to_meta(meta.data(), s.rows, s.cols, heads);
      w.add_tensor(name, std::move(shape), type, std::move(meta));
    } else {
      w.add_tensor(name, std::move(shape), type, values);
    }
  }
  w.write(path);
  return notes;
}

std::vector<std::string> export_hf(const Model& model, const std::string& dir, ExportDtype dtype) {
  if (dtype == ExportDtype::Q8_0) fail(dir, "", "Hugging Face folders hold f32, f16 or bf16 weights, not q8_0");
  const LlamaConfig& c = model.config;
  const Vocab& vocab = model.tokenizer->vocab();
  std::vector<std::string> notes;

  // The tokenizer: the original files when there are some (they hold more than our Vocab, e.g.
  // normalizer details and added-token flags), else files generated from the vocabulary. Prepared
  // before anything is written, so a vocabulary tokenizer.json cannot express leaves no files.
  std::vector<std::pair<std::string, std::string>> tokenizer_files;  // name, contents
  const std::string suffix = "/tokenizer.json";
  const std::string& src = vocab.source;
  if (src.size() > suffix.size() && src.compare(src.size() - suffix.size(), suffix.size(), suffix) == 0) {
    const std::string src_dir = src.substr(0, src.size() - suffix.size());
    for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                             "tokenizer.model", "added_tokens.json"})
      if (fs::exists(src_dir + "/" + name)) tokenizer_files.emplace_back(name, read_whole_file(src_dir + "/" + name));
    notes.push_back("tokenizer: copied from " + src_dir);
  } else {
    tokenizer_files.emplace_back("tokenizer.json", hf_tokenizer_json(vocab));
    tokenizer_files.emplace_back("tokenizer_config.json", hf_tokenizer_config_json(vocab, c.context_length));
    if (vocab.kind == TokenizerKind::Spm && vocab.merges.empty())
      notes.push_back("tokenizer: SentencePiece scores converted to BPE merges, as transformers converts Llama 2");
  }

  const ModelFamily& family = family_of_architecture(c.architecture, dir);
  if (family.fused_projections)
    fail(dir, "", "writing " + c.architecture + " (fused qkv/gate_up projections) as a Hugging Face folder is not supported yet");
  std::deque<std::vector<float>> shifted;  // norms of families that store w for (1 + w)

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(dir, "", "cannot create the folder: " + ec.message());
  std::vector<SafetensorsWriteTensor> tensors;
  std::vector<std::vector<uint16_t>> halves;  // converted copies; f32 tensors are written from the weights
  std::deque<std::vector<uint8_t>> bnb_bytes;  // codebooks, quant_state JSON, weight_format bytes
  std::deque<std::vector<float>> expanded;     // packed linears, dequantized for writing
  const Quant4Matrix* first_q4 = nullptr;
  bool any_int8 = false;
  const std::vector<WeightSlot> slots = weight_slots(c, const_cast<LlamaWeights&>(model.weights));
  halves.reserve(slots.size());
  for (const WeightSlot& s : slots) {
    const size_t n = static_cast<size_t>(s.rows * s.cols);
    if (is_linear_role(s.role) && linear_weight(model.weights, s.role, s.layer).q4) {
      // 4-bit linears are written as bitsandbytes does, so transformers loads them 4-bit.
      const Quant4Matrix& q = *linear_weight(model.weights, s.role, s.layer).q4;
      if (!first_q4) first_q4 = &q;
      if (any_int8 || q.type != first_q4->type || q.double_quant != first_q4->double_quant)
        fail(dir, hf_tensor_name(c, s.role, s.layer), "weights of mixed types (4-bit kinds, 8-bit) cannot be described by one quantization_config");
      append_bnb_4bit(tensors, bnb_bytes, hf_tensor_name(c, s.role, s.layer), q, torch_dtype_name(dtype));
      continue;
    }
    const Matrix* linear = is_linear_role(s.role) ? &linear_weight(model.weights, s.role, s.layer) : nullptr;
    if (linear && linear->packed && linear->packed->int8_rows()) {
      // int8 rows are written as bitsandbytes' LLM.int8 does, so transformers loads them 8-bit.
      if (first_q4) fail(dir, hf_tensor_name(c, s.role, s.layer), "4-bit and 8-bit weights cannot be described by one quantization_config");
      any_int8 = true;
      append_bnb_int8(tensors, bnb_bytes, hf_tensor_name(c, s.role, s.layer), *linear->packed->int8_rows());
      continue;
    }
    const float* values = s.data;
    if (family.hf_norm_offset != 0 && is_norm_role(s.role)) {
      std::vector<float>& d = shifted.emplace_back(s.data, s.data + n);
      for (float& x : d) x -= family.hf_norm_offset;
      values = d.data();
    }
    if (linear && linear->packed) {
      // GGUF blocks: written expanded (this format has no such tensors).
      std::vector<float>& d = expanded.emplace_back(n);
      linear_weight(model.weights, s.role, s.layer).dequantize_into(d.data());
      values = d.data();
    }
    const bool vector = is_vector_role(s.role);
    std::vector<int64_t> shape = vector ? std::vector<int64_t>{s.rows} : std::vector<int64_t>{s.rows, s.cols};
    if (dtype == ExportDtype::F32) {
      tensors.push_back({hf_tensor_name(c, s.role, s.layer), SafeDtype::F32, std::move(shape),
                         std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(values), n * 4)});
      continue;
    }
    std::vector<uint16_t>& h = halves.emplace_back(n);
    for (size_t i = 0; i < n; ++i) h[i] = dtype == ExportDtype::BF16 ? float_to_bf16(values[i]) : float_to_fp16(values[i]);
    tensors.push_back({hf_tensor_name(c, s.role, s.layer), dtype == ExportDtype::BF16 ? SafeDtype::BF16 : SafeDtype::F16,
                       std::move(shape), std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(h.data()), n * 2)});
  }
  write_safetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
  halves.clear();
  for (const auto& [name, contents] : tokenizer_files) write_file_atomically(dir + "/" + name, contents);
  ojson config = hf_config(model, dtype);
  if (first_q4) {
    config["quantization_config"] = bnb_quantization_config(first_q4->type, first_q4->double_quant, torch_dtype_name(dtype));
    notes.push_back(std::string("linear weights written 4-bit in bitsandbytes' format (") +
                    (first_q4->type == Quant4Type::kNf4 ? "nf4" : "fp4") + (first_q4->double_quant ? ", double quant)" : ")"));
  }
  if (any_int8) {
    config["quantization_config"] = bnb_int8_quantization_config();
    notes.push_back("linear weights written 8-bit in bitsandbytes' LLM.int8 format (int8 rows, one absmax each)");
  }
  write_file_atomically(dir + "/config.json", config.dump(2) + "\n");
  return notes;
}

}  // namespace frugal
