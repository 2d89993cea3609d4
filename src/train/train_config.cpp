// The declaration table below is the only place a training option exists: YAML keys, CLI overrides,
// validation, --help and the echoed config are all generated from it, so they cannot drift apart.
#include "train/train_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>
#include <variant>

#include "core/error.h"
#include "core/read_file.h"
#include "train/optimizer_choice.h"

namespace frugal {

namespace {

using Field =
    std::variant<std::string TrainConfig::*, int64_t TrainConfig::*, double TrainConfig::*, bool TrainConfig::*>;

struct Bound {
  double value;
  bool inclusive;
};

struct OptionDecl {
  std::string_view name;
  Field field;
  std::string_view help;
  std::string_view section;  // groups keys in --help and the echoed YAML
  std::optional<Bound> min, max;
  std::vector<std::string_view> choices;  // allowed values of a string option; empty = any
  bool required = false;
  bool whole_when_at_least_one = false;  // val_set_size: a fraction below 1, a count from 1 up
  bool accepts_list = false;             // a YAML list is joined with commas (lora_target_modules)
};

// Builders keep each table row on one or two lines; the bounds read like the rule they state.
struct Rule {
  std::optional<Bound> min, max;
  std::vector<std::string_view> choices;
  bool required = false, whole_when_at_least_one = false, accepts_list = false;
};
Rule any() {
  return {};
}
Rule at_least(double v) {
  return {Bound{v, true}, std::nullopt, {}};
}
Rule above(double v) {
  return {Bound{v, false}, std::nullopt, {}};
}
Rule from_below(double lo, double hi) {
  return {Bound{lo, true}, Bound{hi, false}, {}};
}  // [lo, hi)
Rule one_of(std::vector<std::string_view> c) {
  return {std::nullopt, std::nullopt, std::move(c)};
}
Rule required() {
  Rule r;
  r.required = true;
  return r;
}

OptionDecl opt(std::string_view section, std::string_view name, Field field, Rule rule, std::string_view help) {
  OptionDecl d{name, field, help, section, rule.min, rule.max, std::move(rule.choices)};
  d.required = rule.required;
  d.whole_when_at_least_one = rule.whole_when_at_least_one;
  d.accepts_list = rule.accepts_list;
  return d;
}

const std::vector<OptionDecl>& declarations() {
  using C = TrainConfig;
  static const std::vector<OptionDecl> table = [] {
    Rule fraction_or_count = at_least(0);
    fraction_or_count.whole_when_at_least_one = true;
    Rule target_list;
    target_list.accepts_list = true;
    const std::string_view data = "model and data", method = "method", optim = "optimisation", book = "bookkeeping",
                           context = "context extension",
                           dist = "several processes (mpirun -np N frugal train ...)";
    const Rule zero_to_three{Bound{0, true}, Bound{3, true}, {}};
    return std::vector<OptionDecl>{
        opt(data, "base_model", &C::base_model, required(),
            "model to fine-tune: GGUF file, Hugging Face folder or llama2.c .bin"),
        opt(data, "tokenizer", &C::tokenizer, any(), "tokenizer file, needed for llama2.c models"),
        opt(data, "dataset", &C::dataset, required(), "training data: a JSON or JSONL file"),
        opt(data, "dataset_format", &C::dataset_format, one_of({"auto", "text", "instruction", "chat"}),
            "how records are read: auto (from the keys present), text, instruction or chat"),
        opt(data, "instruction_key", &C::instruction_key, any(), "record key of the instruction (instruction format)"),
        opt(data, "input_key", &C::input_key, any(), "record key of the optional input (instruction format)"),
        opt(data, "output_key", &C::output_key, any(), "record key of the response (instruction format)"),
        opt(data, "text_key", &C::text_key, any(), "record key of the text (text format)"),
        opt(data, "messages_key", &C::messages_key, any(), "record key of the message list (chat format)"),
        opt(data, "val_dataset", &C::val_dataset, any(), "separate validation file (optional)"),
        opt(data, "val_set_size", &C::val_set_size, fraction_or_count,
            "held out of `dataset` when there is no val_dataset: a fraction below 1, or a record count"),
        opt(data, "train_on_inputs", &C::train_on_inputs, any(),
            "also train on prompt tokens (false = loss on responses only, for instruction and chat data)"),
        opt(data, "sequence_len", &C::sequence_len, at_least(2), "longest sequence in tokens; longer records are cut"),
        opt(data, "sample_packing", &C::sample_packing, any(), "pack several short records into each sequence"),
        opt(data, "group_by_length", &C::group_by_length, any(), "batch records of similar length together"),
        opt(data, "output_dir", &C::output_dir, any(), "folder for the adapter, checkpoints, metrics and logs"),
        opt(data, "resume_from_checkpoint", &C::resume_from_checkpoint, any(),
            "checkpoint folder to continue from, or \"latest\" for output_dir's newest"),
        opt(data, "init_adapter", &C::init_adapter, any(),
            "PEFT adapter folder to start from instead of a fresh adapter"),
        opt(method, "method", &C::method, one_of({"lora", "full"}),
            "lora (train adapters) or full (train every weight)"),
        opt(method, "lora_r", &C::lora_r, at_least(1), "LoRA rank"),
        opt(method, "lora_alpha", &C::lora_alpha, above(0), "LoRA scaling numerator: updates are scaled by alpha / r"),
        opt(method, "lora_dropout", &C::lora_dropout, from_below(0, 1), "dropout on the LoRA input, in [0, 1)"),
        opt(method, "lora_target_modules", &C::lora_target_modules, target_list,
            "projections with adapters: all-linear, or a list such as q_proj,v_proj"),
        opt(method, "use_rslora", &C::use_rslora, any(), "rank-stabilised LoRA: scale by alpha / sqrt(r)"),
        opt(method, "load_in_4bit", &C::load_in_4bit, any(),
            "QLoRA: hold the frozen linear weights in 4 bits (bitsandbytes layout), dequantized per product"),
        opt(method, "bnb_4bit_quant_type", &C::bnb_4bit_quant_type, one_of({"nf4", "fp4"}),
            "4-bit code for load_in_4bit: nf4 (NormalFloat) or fp4"),
        opt(method, "bnb_4bit_use_double_quant", &C::bnb_4bit_use_double_quant, any(),
            "quantize the 4-bit block scales to 8 bits in blocks of 256"),
        opt(method, "load_in_8bit", &C::load_in_8bit, any(),
            "hold the frozen linear weights as int8 with one scale per row (bitsandbytes' LLM.int8 layout)"),
        opt(method, "keep_gguf_quantization", &C::keep_gguf_quantization, any(),
            "train on a GGUF base's linear weights as stored (Q4_K, Q8_0, F16, ...), dequantized per product"),
        opt(context, "rope_scaling.type", &C::rope_scaling_type, one_of({"none", "linear", "dynamic", "yarn"}),
            "RoPE scaling to train the model for a longer context than it was trained for: linear (position "
            "interpolation), dynamic (NTK-aware, past the original length) or yarn; saved with the adapter and "
            "the merged model so inference uses it"),
        opt(context, "rope_scaling.factor", &C::rope_scaling_factor, at_least(1),
            "how many times the original context the model should reach (e.g. 4: 8k -> 32k)"),
        opt(context, "rope_scaling.original_max_position_embeddings",
            &C::rope_scaling_original_max_position_embeddings, at_least(0),
            "the context the model was trained for; 0 = the model's own (max_position_embeddings / "
            "context_length)"),
        opt(optim, "learning_rate", &C::learning_rate, above(0), "peak learning rate"),
        opt(optim, "lr_scheduler", &C::lr_scheduler, one_of({"constant", "linear", "cosine"}),
            "learning-rate schedule after warmup: constant, linear or cosine (to 0)"),
        opt(optim, "warmup_steps", &C::warmup_steps, at_least(0), "optimizer steps of linear warmup from 0"),
        opt(optim, "optim", &C::optim, one_of({std::begin(kOptimNames), std::end(kOptimNames)}),
            "optimizer: adamw_torch (torch's AdamW, fp32 moments), adamw_8bit (bitsandbytes' AdamW8bit: "
            "blockwise 8-bit moments, zero_stage 0), sgd (torch's SGD), or paged_adamw_32bit / paged_adamw_8bit "
            "(the same AdamWs with their state in file-backed memory the kernel may page out)"),
        opt(optim, "momentum", &C::momentum, at_least(0), "SGD momentum (0 = plain SGD, no state); sgd only"),
        opt(optim, "weight_decay", &C::weight_decay, at_least(0),
            "weight decay: decoupled for AdamW (values *= 1 - lr * wd), added to the gradient for SGD"),
        opt(optim, "adam_beta1", &C::adam_beta1, from_below(0, 1), "AdamW first-moment decay, in [0, 1)"),
        opt(optim, "adam_beta2", &C::adam_beta2, from_below(0, 1), "AdamW second-moment decay, in [0, 1)"),
        opt(optim, "adam_epsilon", &C::adam_epsilon, at_least(0), "AdamW denominator epsilon"),
        opt(optim, "max_grad_norm", &C::max_grad_norm, at_least(0),
            "clip the global gradient norm to this; 0 = no clipping"),
        opt(optim, "max_nonfinite_steps", &C::max_nonfinite_steps, at_least(1),
            "stop after this many optimizer steps in a row with a NaN or inf loss or gradient norm (each is "
            "skipped); the last good checkpoint is kept"),
        opt(optim, "micro_batch_size", &C::micro_batch_size, at_least(1), "sequences per forward/backward pass"),
        opt(optim, "gradient_accumulation_steps", &C::gradient_accumulation_steps, at_least(1),
            "micro-batches per optimizer step"),
        opt(optim, "num_epochs", &C::num_epochs, at_least(1), "passes over the training data"),
        opt(optim, "max_steps", &C::max_steps, at_least(0), "optimizer steps to run; > 0 overrides num_epochs"),
        opt(optim, "gradient_checkpointing", &C::gradient_checkpointing, any(),
            "keep only layer inputs and recompute the rest in backward: less memory, ~30% more compute"),
        opt(optim, "bf16", &C::bf16, any(), "bf16 matmuls with fp32 accumulation where the CPU supports bf16"),
        opt(dist, "zero_stage", &C::zero_stage, zero_to_three,
            "ZeRO sharding across ranks: 0 none, 1 AdamW state, 2 + gradients, 3 + weights (full fine-tuning)"),
        opt(book, "logging_steps", &C::logging_steps, at_least(1), "log metrics every this many optimizer steps"),
        opt(book, "eval_steps", &C::eval_steps, at_least(0), "evaluate every this many steps; 0 = only at the end"),
        opt(book, "save_steps", &C::save_steps, at_least(0),
            "save a checkpoint every this many steps; 0 = only at the end"),
        opt(book, "save_total_limit", &C::save_total_limit, at_least(0),
            "checkpoints kept in output_dir, newest first; 0 = keep all"),
        opt(book, "seed", &C::seed, at_least(0), "random seed (adapter init, dropout, data order)"),
        opt(book, "threads", &C::threads, at_least(0), "worker threads; 0 = all cores"),
    };
  }();
  return table;
}

const OptionDecl* find_decl(std::string_view name) {
  for (const OptionDecl& d : declarations())
    if (d.name == name) return &d;
  return nullptr;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string unknown_option_message(std::string_view name) {
  const OptionDecl* best = nullptr;
  size_t best_distance = 0;
  for (const OptionDecl& d : declarations()) {
    const size_t dist = edit_distance(name, d.name);
    if (!best || dist < best_distance) best = &d, best_distance = dist;
  }
  // Only suggest names that are plausibly a typo, not whatever happens to be least far away.
  if (best && best_distance <= std::max<size_t>(2, name.size() / 3))
    return "unknown option (did you mean " + std::string(best->name) + "?)";
  return "unknown option (frugal train --help lists them all)";
}

std::string format_double(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back exactly
  return std::string(buf, r.ptr);
}

// A float as YAML 1.1 readers (PyYAML) also take for a float: they want a '.', so "2e-04" would be
// read back as a string there; "2.0e-04" is a float everywhere and still reads back exactly.
std::string yaml_double(double v) {
  std::string s = format_double(v);
  if (s.find_first_of(".n") != std::string::npos) return s;  // has a point, or is inf / nan
  const size_t e = s.find('e');
  return e == std::string::npos ? s + ".0" : s.insert(e, ".0");
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<bool> parse_bool(const std::string& text) {
  const std::string s = lower(text);
  if (s == "true" || s == "yes" || s == "on" || s == "1") return true;
  if (s == "false" || s == "no" || s == "off" || s == "0") return false;
  return std::nullopt;
}

std::optional<double> parse_double(const std::string& text) {
  std::string_view s = text;
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  double v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);  // locale-independent, unlike strtod
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<int64_t> parse_int(const std::string& text) {
  std::string_view s = text;
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  int64_t v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (!s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size()) return v;
  // "1e3" or "1000.0" are whole numbers too, as users write them for step counts.
  const std::optional<double> d = parse_double(text);
  if (d && *d == std::floor(*d) && std::fabs(*d) <= 9007199254740992.0) return static_cast<int64_t>(*d);
  return std::nullopt;
}

const char* kind_name(const Field& f) {
  switch (f.index()) {
    case 0:
      return "TEXT";
    case 1:
      return "INT";
    case 2:
      return "NUMBER";
    default:
      return "BOOL";
  }
}

// Stores `text` into the option's field; returns the problem, or "" when it was accepted.
std::string assign(TrainConfig& c, const OptionDecl& d, const std::string& text) {
  if (auto p = std::get_if<std::string TrainConfig::*>(&d.field)) {
    c.*(*p) = text;
  } else if (auto p = std::get_if<int64_t TrainConfig::*>(&d.field)) {
    const std::optional<int64_t> v = parse_int(text);
    if (!v) return "expected a whole number, got '" + text + "'";
    c.*(*p) = *v;
  } else if (auto p = std::get_if<double TrainConfig::*>(&d.field)) {
    const std::optional<double> v = parse_double(text);
    if (!v) return "expected a number, got '" + text + "'";
    c.*(*p) = *v;
  } else if (auto p = std::get_if<bool TrainConfig::*>(&d.field)) {
    const std::optional<bool> v = parse_bool(text);
    if (!v) return "expected true or false, got '" + text + "'";
    c.*(*p) = *v;
  }
  return "";
}

std::string value_text(const TrainConfig& c, const OptionDecl& d) {
  if (auto p = std::get_if<std::string TrainConfig::*>(&d.field)) return c.*(*p);
  if (auto p = std::get_if<int64_t TrainConfig::*>(&d.field)) return std::to_string(c.*(*p));
  if (auto p = std::get_if<double TrainConfig::*>(&d.field)) return yaml_double(c.*(*p));
  return c.*std::get<bool TrainConfig::*>(d.field) ? "true" : "false";
}

std::string bound_text(double v) {
  return format_double(v);
}

// The value's problem under the declared rule, or "".
std::string check(const TrainConfig& c, const OptionDecl& d) {
  if (auto p = std::get_if<std::string TrainConfig::*>(&d.field)) {
    const std::string& s = c.*(*p);
    if (d.required && s.empty()) return "is required but not set";
    if (!d.choices.empty() && std::find(d.choices.begin(), d.choices.end(), s) == d.choices.end()) {
      std::string list;
      for (std::string_view ch : d.choices) list += (list.empty() ? "" : ", ") + std::string(ch);
      return "'" + s + "' is not one of " + list;
    }
    return "";
  }
  double v = 0;
  if (auto p = std::get_if<int64_t TrainConfig::*>(&d.field))
    v = static_cast<double>(c.*(*p));
  else if (auto p = std::get_if<double TrainConfig::*>(&d.field))
    v = c.*(*p);
  else
    return "";
  const std::string shown = value_text(c, d);
  if (d.min && (d.min->inclusive ? v < d.min->value : v <= d.min->value))
    return shown + " is out of range: must be " + (d.min->inclusive ? ">= " : "> ") + bound_text(d.min->value) +
           (d.max ? std::string(" and ") + (d.max->inclusive ? "<= " : "< ") + bound_text(d.max->value) : "");
  if (d.max && (d.max->inclusive ? v > d.max->value : v >= d.max->value))
    return shown + " is out of range: must be " + (d.max->inclusive ? "<= " : "< ") + bound_text(d.max->value) +
           (d.min ? std::string(" and ") + (d.min->inclusive ? ">= " : "> ") + bound_text(d.min->value) : "");
  if (d.whole_when_at_least_one && v >= 1 && v != std::floor(v))
    return shown + " is neither a fraction below 1 nor a whole count of records";
  return "";
}

// Where a value came from, so a bad value is reported where the user wrote it.
struct Origin {
  std::string path;   // the YAML file, or "command line"
  std::string where;  // "key lora_r (line 4)" or "--lora_r"
};

const std::string kCommandLine = "command line";

void apply_overrides(TrainConfig& c, const std::vector<std::string>& args, std::map<std::string, Origin>& origins) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0 || a.size() == 2)
      fail(kCommandLine, "'" + a + "'", "unexpected argument: options are written --key value or --key=value");
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    std::replace(name.begin(), name.end(), '-', '_');  // --learning-rate is --learning_rate
    const OptionDecl* d = find_decl(name);
    if (!d) fail(kCommandLine, "--" + name, unknown_option_message(name));
    if (!has_value) {
      const bool is_bool = std::holds_alternative<bool TrainConfig::*>(d->field);
      if (is_bool) {
        // A bare boolean flag means true; a following true/false (not another option) is its value.
        if (i + 1 < args.size() && parse_bool(args[i + 1]))
          value = args[++i];
        else
          value = "true";
      } else {
        if (i + 1 >= args.size())
          fail(kCommandLine, "--" + name, std::string("needs a value (") + kind_name(d->field) + ")");
        value = args[++i];
      }
    }
    if (const std::string problem = assign(c, *d, value); !problem.empty()) fail(kCommandLine, "--" + name, problem);
    origins[name] = Origin{kCommandLine, "--" + name};
  }
}

void validate(const TrainConfig& c, const std::map<std::string, Origin>& origins, const std::string& fallback_path) {
  for (const OptionDecl& d : declarations()) {
    const std::string problem = check(c, d);
    if (problem.empty()) continue;
    const auto it = origins.find(std::string(d.name));
    if (it != origins.end()) fail(it->second.path, it->second.where, problem);
    const std::string name(d.name);
    fail(fallback_path, "key " + name,
         problem + " (set `" + name + ": ...` in the config file or pass --" + name + " VALUE)");
  }
}

std::string read_text_file(const std::string& path) {
  return read_whole_file(path, "cannot open the config file", "cannot read the config file");
}

// Whether some declared option is named `prefix.<something>`: a mapping under `prefix` holds them.
bool is_group(std::string_view prefix) {
  for (const OptionDecl& d : declarations())
    if (d.name.size() > prefix.size() && d.name.substr(0, prefix.size()) == prefix && d.name[prefix.size()] == '.')
      return true;
  return false;
}

// The entries of one YAML mapping; `prefix` is "" at the top level, "rope_scaling." inside its mapping.
void apply_yaml_map(TrainConfig& c, const std::string& path, const YAML::Node& map, const std::string& prefix,
                    std::map<std::string, Origin>& origins, std::map<std::string, int>& seen_on_line) {
  for (const auto& kv : map) {
    const int line = kv.first.Mark().line + 1;
    const std::string at = " (line " + std::to_string(line) + ")";
    if (!kv.first.IsScalar()) fail(path, "line " + std::to_string(line), "a key must be a plain name");
    const std::string name = prefix + kv.first.Scalar();
    const YAML::Node& node = kv.second;
    if (node.IsMap() && is_group(name)) {  // rope_scaling: {type: linear, factor: 4}, as axolotl writes it
      apply_yaml_map(c, path, node, name + ".", origins, seen_on_line);
      continue;
    }
    const OptionDecl* d = find_decl(name);
    if (!d) fail(path, "key " + name + at, unknown_option_message(name));
    // yaml-cpp keeps both entries of a repeated key; silently taking one would hide a mistake.
    if (auto [it, fresh] = seen_on_line.emplace(name, line); !fresh)
      fail(path, "key " + name + at, "given twice (first on line " + std::to_string(it->second) + ")");
    std::string value;
    if (node.IsNull()) {
      if (!std::holds_alternative<std::string TrainConfig::*>(d->field))
        fail(path, "key " + name + at, std::string("needs a value (") + kind_name(d->field) + ")");
    } else if (node.IsScalar()) {
      value = node.Scalar();
    } else if (node.IsSequence() && d->accepts_list) {
      for (const YAML::Node& item : node) {
        if (!item.IsScalar()) fail(path, "key " + name + at, "expected a list of names");
        value += (value.empty() ? "" : ",") + item.Scalar();
      }
    } else {
      fail(path, "key " + name + at,
           std::string("expected a single value (") + kind_name(d->field) + "), got a " +
               (node.IsSequence() ? "list" : "mapping"));
    }
    if (const std::string problem = assign(c, *d, value); !problem.empty()) fail(path, "key " + name + at, problem);
    origins[name] = Origin{path, "key " + name + at};
  }
}

void apply_yaml(TrainConfig& c, const std::string& path, std::map<std::string, Origin>& origins) {
  const std::string text = read_text_file(path);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail(path, "line " + std::to_string(e.mark.line + 1), "not valid YAML: " + e.msg);
  }
  if (root.IsNull()) return;  // an empty file: everything from defaults and overrides
  if (!root.IsMap()) fail(path, "", "expected a mapping of `key: value` lines at the top level");
  std::map<std::string, int> seen_on_line;
  apply_yaml_map(c, path, root, "", origins, seen_on_line);
}

// Plain YAML scalars are kept for readability; anything another YAML reader could take for a number,
// boolean or null, or that holds syntax characters, is double-quoted with escapes.
std::string yaml_string(const std::string& s) {
  bool plain = !s.empty() && s.front() != ' ' && s.back() != ' ' && s.front() != '-' && !parse_double(s);
  const std::string l = lower(s);
  for (const char* word : {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"})
    if (l == word) plain = false;
  for (char ch : s) {
    const unsigned char u = static_cast<unsigned char>(ch);
    if (!(std::isalnum(u) || u >= 0x80 || std::string_view("_./,+-@= ").find(ch) != std::string_view::npos))
      plain = false;
  }
  if (plain) return s;
  std::string out = "\"";
  for (char ch : s) {
    const unsigned char u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\')
      out += std::string("\\") + ch;
    else if (ch == '\n')
      out += "\\n";
    else if (ch == '\t')
      out += "\\t";
    else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else
      out += ch;
  }
  return out + "\"";
}

}  // namespace

TrainConfig load_train_config(const std::string& yaml_path, const std::vector<std::string>& overrides) {
  TrainConfig c;
  std::map<std::string, Origin> origins;
  apply_yaml(c, yaml_path, origins);
  apply_overrides(c, overrides, origins);
  validate(c, origins, yaml_path);
  return c;
}

TrainConfig train_config_from_overrides(const std::vector<std::string>& overrides) {
  TrainConfig c;
  std::map<std::string, Origin> origins;
  apply_overrides(c, overrides, origins);
  validate(c, origins, kCommandLine);
  return c;
}

std::string train_config_to_yaml(const TrainConfig& config) {
  std::string out = "# frugal training config (every key; `frugal train --help` explains them)\n";
  std::string_view section, group;
  for (const OptionDecl& d : declarations()) {
    if (d.section != section) {
      section = d.section;
      group = {};
      out += "\n# " + std::string(section) + "\n";
    }
    const bool is_string = std::holds_alternative<std::string TrainConfig::*>(d.field);
    const std::string value = is_string ? yaml_string(value_text(config, d)) : value_text(config, d);
    // rope_scaling.factor is written inside a `rope_scaling:` mapping, the spelling axolotl reads.
    const size_t dot = d.name.find('.');
    if (dot == std::string_view::npos) {
      group = {};
      out += std::string(d.name) + ": " + value + "\n";
      continue;
    }
    if (d.name.substr(0, dot) != group) {
      group = d.name.substr(0, dot);
      out += std::string(group) + ":\n";
    }
    out += "  " + std::string(d.name.substr(dot + 1)) + ": " + value + "\n";
  }
  return out;
}

std::string train_config_help() {
  const TrainConfig defaults;
  std::string out =
      "Training options. Each is a key of the YAML config file and can be overridden on the command line\n"
      "as --key value or --key=value (dashes or underscores; a boolean alone means true).\n";
  std::string_view section;
  for (const OptionDecl& d : declarations()) {
    if (d.section != section) {
      section = d.section;
      out += "\n" + std::string(section) + ":\n";
    }
    std::string left = "  --" + std::string(d.name) + " " + kind_name(d.field);
    if (left.size() < 40)
      left.resize(40, ' ');
    else
      left += "\n" + std::string(40, ' ');
    std::string note;
    if (d.required)
      note = " (required)";
    else {
      const std::string v = value_text(defaults, d);
      note = " [default: " + (v.empty() ? std::string("none") : v) + "]";
    }
    out += left + std::string(d.help) + note + "\n";
  }
  return out;
}

}  // namespace frugal
