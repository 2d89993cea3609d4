#include <unistd.h>

#include <cstdio>

#include "commands.h"
#include "core/read_file.h"
#include "core/error.h"
#include "infer/perplexity.h"
#include "io/export_model.h"
#include "model/quantize_model.h"
#include "model_options.h"

namespace frugal::cli {

namespace {

// Perplexity of the first --max-tokens tokens of --ppl-file, non-overlapping windows of --ctx.
PerplexityResult text_perplexity(Model& model, const std::vector<int32_t>& tokens, int64_t ctx, Precision precision,
                                 const char* label) {
  const bool tty = isatty(STDERR_FILENO);
  PerplexityResult r = perplexity(model, tokens, ctx, ctx, precision, [&](int64_t done, int64_t total) {
    if (tty) std::fprintf(stderr, "\rperplexity %s: %lld / %lld tokens", label, static_cast<long long>(done),
                          static_cast<long long>(total));
  });
  if (tty) std::fprintf(stderr, "\n");
  return r;
}

}  // namespace

int cmd_quantize(const Args& args) {
  std::vector<OptionSpec> specs;
  for (const OptionSpec& s : model_option_specs())
    if (s.name == "model" || s.name == "tokenizer") specs.push_back(s);
  std::vector<OptionSpec> more = {
      {"type", "", OptionKind::String, "", "nf4, fp4 (bitsandbytes 4-bit, blocks of 64) or int8 (one absmax per row)", true},
      {"double-quant", "", OptionKind::Flag, "false", "4-bit only: quantize the block scales to 8 bits (blocks of 256)"},
      {"out", "-o", OptionKind::String, "", "write a Hugging Face folder in bitsandbytes' format (4-bit for nf4/fp4, LLM.int8 for int8)"},
      {"out-dtype", "", OptionKind::String, "bf16", "dtype of the tensors left unquantized in --out: f32, f16 or bf16"},
      {"ppl-file", "", OptionKind::String, "", "text to measure perplexity on, before and after quantizing"},
      {"max-tokens", "", OptionKind::Int, "0", "use only the first N tokens of --ppl-file (0 = all)"},
      {"ctx", "", OptionKind::Int, "512", "perplexity window length in tokens"},
  };
  specs.insert(specs.end(), more.begin(), more.end());
  for (const OptionSpec& s : precision_option_specs()) specs.push_back(s);
  Options o("quantize",
            "Quantize the linear layers to nf4 / fp4 / int8: bits per parameter, per-layer RMSE, perplexity before and "
            "after, and optionally a bitsandbytes-format Hugging Face folder.",
            specs);
  if (!parse_or_help(o, args)) return 0;
  const WeightQuant quant = parse_weight_quant(o.get("type"));
  const bool double_quant = o.flag("double-quant");
  if (double_quant && quant == WeightQuant::kInt8) fail("--double-quant applies to nf4 and fp4, not int8");
  const ExportDtype out_dtype = parse_export_dtype(o.get("out-dtype"));
  if (out_dtype == ExportDtype::Q8_0) fail("--out-dtype must be f32, f16 or bf16");
  const int64_t ctx = o.get_int("ctx"), max_tokens = o.get_int("max-tokens");
  if (ctx <= 0) fail("--ctx must be positive");
  if (max_tokens < 0) fail("--max-tokens must be >= 0");
  const Precision precision = precision_from(o);

  auto model = load_model(o.get("model"), o.get("tokenizer"));
  std::vector<int32_t> tokens;
  PerplexityResult before;
  if (o.was_set("ppl-file")) {
    tokens = model->tokenizer->encode(read_whole_file(o.get("ppl-file")), true, false);
    if (max_tokens > 0 && static_cast<int64_t>(tokens.size()) > max_tokens) tokens.resize(max_tokens);
    before = text_perplexity(*model, tokens, ctx, precision, "before");
  }
  const QuantizeReport report = quantize_linears(model->weights, quant, double_quant);
  std::fputs(format_quantize_report(report).c_str(), stdout);
  if (o.was_set("ppl-file")) {
    const PerplexityResult after = text_perplexity(*model, tokens, ctx, precision, "after");
    std::printf("perplexity (%lld tokens scored, ctx %lld, %s matmuls): before %.4f  after %.4f  (%+.2f%%)\n",
                static_cast<long long>(after.tokens_scored), static_cast<long long>(ctx),
                precision_name(precision).c_str(), before.perplexity(), after.perplexity(),
                100.0 * (after.perplexity() / before.perplexity() - 1.0));
  }
  if (o.was_set("out")) {
    for (const std::string& n : export_hf(*model, o.get("out"), out_dtype)) std::fprintf(stderr, "quantize: %s\n", n.c_str());
    std::printf("wrote %s\n", o.get("out").c_str());
  }
  return 0;
}

}  // namespace frugal::cli
