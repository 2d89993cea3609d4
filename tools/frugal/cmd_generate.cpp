#include <cstdio>

#include "commands.h"
#include "core/read_file.h"
#include "core/error.h"
#include "infer/generate.h"
#include "model_options.h"
#include "tokenizer/chat_template.h"

namespace frugal::cli {

int cmd_generate(const Args& args) {
  std::vector<OptionSpec> specs = model_option_specs();
  std::vector<OptionSpec> more = {
      {"prompt", "-p", OptionKind::String, "", "prompt text (empty: start from BOS)"},
      {"n-predict", "-n", OptionKind::Int, "256", "maximum number of new tokens"},
      {"temperature", "", OptionKind::Float, "0", "sampling temperature; 0 = greedy"},
      {"top-k", "", OptionKind::Int, "0", "sample only among the k most likely tokens (0 = off)"},
      {"top-p", "", OptionKind::Float, "1", "nucleus sampling mass (1 = off)"},
      {"seed", "", OptionKind::Int, "42", "random seed for sampling"},
      {"chat", "", OptionKind::Flag, "false", "wrap the prompt as a user turn in the model's chat template"},
      {"system", "", OptionKind::String, "", "system message for --chat (default: the template's own)"},
      {"special", "", OptionKind::Flag, "false", "parse special-token text such as <|im_start|> in the prompt"},
      {"ignore-eos", "", OptionKind::Flag, "false", "keep generating past end-of-text tokens (for benchmarks)"},
      {"prompt-file", "", OptionKind::String, "", "read the prompt from this file instead of -p"},
  };
  specs.insert(specs.end(), more.begin(), more.end());
  for (const OptionSpec& s : precision_option_specs()) specs.push_back(s);
  for (const OptionSpec& s : chat_template_option_specs()) specs.push_back(s);
  Options o("generate", "Generate text; only the generated text goes to stdout, statistics to stderr.", specs);
  if (!parse_or_help(o, args)) return 0;

  GenerateOptions g;
  g.max_new_tokens = o.get_int("n-predict");
  if (g.max_new_tokens < 0) fail("generate: -n must be >= 0");
  g.sampling.temperature = static_cast<float>(o.get_float("temperature"));
  g.sampling.top_k = static_cast<int32_t>(o.get_int("top-k"));
  g.sampling.top_p = static_cast<float>(o.get_float("top-p"));
  g.sampling.seed = static_cast<uint64_t>(o.get_int("seed"));
  g.stop_at_end_token = !o.flag("ignore-eos");

  InferenceModel loaded = load_model_for_inference(o);
  std::unique_ptr<Model>& model = loaded.model;
  g.precision = loaded.precision;
  if (o.was_set("prompt") && o.was_set("prompt-file")) fail("generate: give -p or --prompt-file, not both");
  std::string prompt = o.was_set("prompt-file") ? read_whole_file(o.get("prompt-file")) : o.get("prompt");
  bool parse_special = o.flag("special");
  if (o.flag("chat")) {
    std::vector<ChatMessage> messages;
    if (o.was_set("system")) messages.push_back({"system", o.get("system")});
    messages.push_back({"user", prompt});
    const Vocab& vocab = model->tokenizer->vocab();
    prompt = render_chat(chat_template_source(o, *model), messages, chat_options(vocab, true), chat_template_origin(o, *model));
    parse_special = true;
  }
  std::vector<int32_t> tokens = model->tokenizer->encode(prompt, true, parse_special);
  GenerateResult r = generate(*model, tokens, g, [](const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::printf("\n");
  std::fprintf(stderr, "prompt: %zu tokens in %.2f s (%.1f tok/s); generated %zu tokens in %.2f s (%.1f tok/s), %s\n",
               tokens.size(), r.prompt_seconds, tokens.size() / std::max(r.prompt_seconds, 1e-9), r.tokens.size(),
               r.decode_seconds, r.tokens.size() / std::max(r.decode_seconds, 1e-9), precision_name(g.precision).c_str());
  return 0;
}

}  // namespace frugal::cli
