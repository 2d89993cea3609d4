#include <unistd.h>

#include <cstdio>

#include "commands.h"
#include "core/read_file.h"
#include "core/error.h"
#include "infer/perplexity.h"
#include "model_options.h"

namespace frugal::cli {

int cmd_perplexity(const Args& args) {
  std::vector<OptionSpec> specs = model_option_specs();
  std::vector<OptionSpec> more = {
      {"file", "-f", OptionKind::String, "", "text file to evaluate", true},
      {"ctx", "", OptionKind::Int, "512", "window length in tokens"},
      {"stride", "", OptionKind::Int, "0", "tokens the window advances each step (0 = ctx: no overlap)"},
      {"max-tokens", "", OptionKind::Int, "0", "use only the first N tokens of the file (0 = all)"},
      {"add-bos", "", OptionKind::Flag, "false", "start the text with BOS even if the model does not add one"},
      {"json", "", OptionKind::Flag, "false", "print the result as JSON"},
  };
  specs.insert(specs.end(), more.begin(), more.end());
  for (const OptionSpec& s : precision_option_specs()) specs.push_back(s);
  Options o("perplexity", "Perplexity over a text file with a sliding window (each token scored once).", specs);
  if (!parse_or_help(o, args)) return 0;
  const int64_t ctx = o.get_int("ctx");
  const int64_t stride = o.get_int("stride") == 0 ? ctx : o.get_int("stride");
  const int64_t max_tokens = o.get_int("max-tokens");
  if (max_tokens < 0) fail("perplexity: --max-tokens must be >= 0");

  InferenceModel loaded = load_model_for_inference(o);
  std::unique_ptr<Model>& model = loaded.model;
  const Precision precision = loaded.precision;
  const std::string text = read_whole_file(o.get("file"));
  std::vector<int32_t> tokens = model->tokenizer->encode(text, true, false);
  if (o.flag("add-bos") && (tokens.empty() || tokens[0] != model->tokenizer->bos_id()))
    tokens.insert(tokens.begin(), model->tokenizer->bos_id());
  if (max_tokens > 0 && static_cast<int64_t>(tokens.size()) > max_tokens) tokens.resize(max_tokens);

  const bool tty = isatty(STDERR_FILENO);
  PerplexityResult r = perplexity(*model, tokens, ctx, stride, precision, [&](int64_t done, int64_t total) {
    if (tty) std::fprintf(stderr, "\rperplexity: %lld / %lld tokens", static_cast<long long>(done), static_cast<long long>(total));
  });
  if (tty) std::fprintf(stderr, "\n");
  if (o.flag("json"))
    std::printf("{\"tokens\": %zu, \"scored\": %lld, \"windows\": %lld, \"ctx\": %lld, \"stride\": %lld, \"nll\": %.9g, \"perplexity\": %.9g}\n",
                tokens.size(), static_cast<long long>(r.tokens_scored), static_cast<long long>(r.windows),
                static_cast<long long>(ctx), static_cast<long long>(stride), r.nll_sum / std::max<int64_t>(r.tokens_scored, 1),
                r.perplexity());
  else
    std::printf("tokens %zu scored %lld windows %lld ppl %.4f\n", tokens.size(), static_cast<long long>(r.tokens_scored),
                static_cast<long long>(r.windows), r.perplexity());
  return 0;
}

}  // namespace frugal::cli
