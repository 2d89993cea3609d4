#include <unistd.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/error.h"
#include "data/dataset.h"
#include "infer/evaluate.h"
#include "model_options.h"

namespace frugal::cli {

int cmd_evaluate(const Args& args) {
  std::vector<OptionSpec> specs = model_option_specs();
  std::vector<OptionSpec> more = {
      {"data", "", OptionKind::String, "", "chat or instruction JSON/JSONL file; the last assistant reply is the reference", true},
      {"output-key", "", OptionKind::String, "output", "key of the reply in instruction records (e.g. response)"},
      {"max-new-tokens", "", OptionKind::Int, "32", "longest answer generated"},
      {"limit", "", OptionKind::Int, "0", "evaluate only the first N records (0 = all)"},
      {"show", "", OptionKind::Int, "3", "print this many samples (prompt, reference, answer)"},
      {"json", "", OptionKind::Flag, "false", "print the result as JSON"},
  };
  specs.insert(specs.end(), more.begin(), more.end());
  for (const OptionSpec& s : precision_option_specs()) specs.push_back(s);
  Options o("evaluate", "Eval loss (on the reply tokens) and exact match of greedy answers.", specs);
  if (!parse_or_help(o, args)) return 0;
  EvalOptions e;
  e.max_new_tokens = o.get_int("max-new-tokens");
  e.limit = o.get_int("limit");
  DatasetOptions d;
  d.output_key = o.get("output-key");
  const Dataset dataset = load_dataset(o.get("data"), d);
  InferenceModel loaded = load_model_for_inference(o);
  std::unique_ptr<Model>& model = loaded.model;
  e.precision = loaded.precision;
  const bool tty = isatty(STDERR_FILENO);
  EvalResult r = evaluate_dataset(*model, dataset, e, [&](int64_t done, int64_t total) {
    if (tty) std::fprintf(stderr, "\revaluate: %lld / %lld", static_cast<long long>(done), static_cast<long long>(total));
  });
  if (tty) std::fprintf(stderr, "\n");
  if (o.flag("json")) {
    nlohmann::ordered_json j;
    j["records"] = r.records;
    j["correct"] = r.correct;
    j["exact_match"] = r.accuracy();
    j["eval_loss"] = r.loss;
    j["loss_tokens"] = r.loss_tokens;
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  for (int64_t i = 0; i < std::min<int64_t>(o.get_int("show"), static_cast<int64_t>(r.samples.size())); ++i) {
    const EvalSample& s = r.samples[i];
    std::printf("  %s\n    expected %s | got %s %s\n", s.prompt.c_str(), s.reference.c_str(), s.answer.c_str(),
                s.correct ? "(correct)" : "(wrong)");
  }
  std::printf("exact match %lld / %lld = %.1f%%, eval loss %.4f over %lld tokens\n", static_cast<long long>(r.correct),
              static_cast<long long>(r.records), 100.0 * r.accuracy(), r.loss, static_cast<long long>(r.loss_tokens));
  return 0;
}

}  // namespace frugal::cli
