#include <cstdio>

#include "commands.h"
#include "core/error.h"
#include "io/export_random.h"
#include "model_options.h"
#include "plan/model_shapes.h"

namespace frugal::cli {

namespace {

// The shape: a preset's, with any dimension given on the command line replacing its value; without a
// preset every dimension but --kv-heads (= --heads) and --head-dim (= hidden / heads) must be given.
LlamaConfig config_from(const Options& o, const Tokenizer* tokenizer) {
  LlamaConfig c;
  const bool preset = o.was_set("preset");
  if (preset) c = find_preset(o.get("preset")).config;
  const auto dim = [&](const char* name, int64_t& field) {
    if (o.was_set(name)) field = o.get_int(name);
    else if (!preset && !(tokenizer && std::string(name) == "vocab"))
      fail("init-model", std::string("--") + name, "needed without --preset");
  };
  dim("hidden", c.dim);
  dim("layers", c.n_layers);
  dim("heads", c.n_heads);
  dim("ffn", c.ffn_dim);
  if (o.was_set("kv-heads")) c.n_kv_heads = o.get_int("kv-heads");
  else if (!preset || o.was_set("heads")) c.n_kv_heads = c.n_heads;
  if (o.was_set("head-dim")) c.head_dim = o.get_int("head-dim");
  else if (!preset || o.was_set("hidden") || o.was_set("heads")) c.head_dim = c.n_heads > 0 ? c.dim / c.n_heads : 0;
  // The vocabulary follows the tokenizer unless --vocab asks for more rows (padded with unused tokens).
  if (o.was_set("vocab")) c.vocab_size = o.get_int("vocab");
  else if (tokenizer) c.vocab_size = tokenizer->size();
  if (tokenizer && c.vocab_size < tokenizer->size())
    fail("init-model", "--vocab", std::to_string(c.vocab_size) + " is smaller than the tokenizer's " +
                                      std::to_string(tokenizer->size()) + " tokens");
  if (o.was_set("context")) c.context_length = o.get_int("context");
  else if (!preset) c.context_length = 2048;
  if (o.was_set("rope-theta")) c.rope_theta = static_cast<float>(o.get_float("rope-theta"));
  if (o.was_set("tied")) c.tied_output = o.flag("tied");
  c.validate("init-model");
  return c;
}

}  // namespace

int cmd_init_model(const Args& args) {
  Options o("init-model",
            "Write a Llama model with random weights as GGUF, initialised as Hugging Face's LlamaPreTrainedModel\n"
            "does (normal(0, --std) for the embedding and linear layers, RMSNorm weights 1), e.g. to plan and\n"
            "benchmark a model size without downloading one. The same seed gives the same file.",
            {
                {"out", "-o", OptionKind::String, "", "output .gguf file", true},
                {"preset", "", OptionKind::String, "", "a published shape: " + preset_names()},
                {"hidden", "", OptionKind::Int, "", "hidden size (replaces the preset's)"},
                {"layers", "", OptionKind::Int, "", "number of blocks"},
                {"heads", "", OptionKind::Int, "", "attention heads"},
                {"kv-heads", "", OptionKind::Int, "", "key/value heads [default: the preset's, or --heads]"},
                {"head-dim", "", OptionKind::Int, "", "dimension per head [default: hidden / heads]"},
                {"ffn", "", OptionKind::Int, "", "feed-forward (SwiGLU) size"},
                {"vocab", "", OptionKind::Int, "",
                 "vocabulary size [default: the tokenizer's with --tokenizer-from, else the preset's]"},
                {"context", "", OptionKind::Int, "", "context length [default: the preset's, or 2048]"},
                {"rope-theta", "", OptionKind::Float, "", "RoPE base frequency [default: the preset's, or 10000]"},
                {"tied", "", OptionKind::Flag, "", "output head tied to the embedding [default: the preset's, or true]"},
                {"tokenizer-from", "", OptionKind::String, "",
                 "copy the tokenizer of this model (GGUF, HF folder, or llama2.c tokenizer .bin); without it the "
                 "file has no tokenizer and is used with `frugal train --tokenizer FILE`"},
                {"dtype", "", OptionKind::String, "bf16", "weight type: f32, f16, bf16 or q8_0"},
                {"std", "", OptionKind::Float, "0.02", "standard deviation of the weights (initializer_range)"},
                {"seed", "", OptionKind::Int, "0", "random seed"},
            });
  if (!parse_or_help(o, args)) return 0;
  std::unique_ptr<Tokenizer> tokenizer;
  if (o.was_set("tokenizer-from")) {
    // A llama2.c tokenizer file does not say its size: --vocab or the preset's does.
    const int64_t size = o.was_set("vocab") ? o.get_int("vocab")
                         : o.was_set("preset") ? find_preset(o.get("preset")).config.vocab_size : 0;
    tokenizer = load_tokenizer(o.get("tokenizer-from"), static_cast<int32_t>(size));
  }
  const LlamaConfig config = config_from(o, tokenizer.get());
  const ExportDtype dtype = parse_export_dtype(o.get("dtype"));
  RandomInit init;
  init.seed = static_cast<uint64_t>(o.get_int("seed"));
  init.std = static_cast<float>(o.get_float("std"));
  if (!(init.std >= 0)) fail("init-model", "--std", "must be >= 0");
  if (tokenizer) init.padding_row = tokenizer->vocab().pad_id;
  const std::string name = "random " + (o.was_set("preset") ? o.get("preset") + " " : std::string()) + "seed " +
                           std::to_string(init.seed);
  const std::string out = o.get("out");
  for (const std::string& n : write_random_gguf(out, config, tokenizer ? &tokenizer->vocab() : nullptr, name, dtype, init))
    std::fprintf(stderr, "init-model: %s\n", n.c_str());
  std::fprintf(stderr, "init-model: %lld parameters (hidden %lld, %lld layers, %lld/%lld heads, ffn %lld, vocab %lld), %s\n",
               static_cast<long long>(config.parameter_count()), static_cast<long long>(config.dim),
               static_cast<long long>(config.n_layers), static_cast<long long>(config.n_heads),
               static_cast<long long>(config.n_kv_heads), static_cast<long long>(config.ffn_dim),
               static_cast<long long>(config.vocab_size), export_dtype_name(dtype).c_str());
  std::printf("%s\n", out.c_str());
  return 0;
}

}  // namespace frugal::cli
