// `frugal bench`: prompt processing and decode throughput measured the way llama-bench measures
// them, so the two can be set side by side on one file (bench/bench_vs_llamacpp.sh): pp N = one
// forward pass over N prompt tokens from an empty cache; tg N at depth d = N single-token steps
// after d tokens are already in the cache (filling it is not timed). Tokens are random ids, as
// llama-bench's are; every step computes the last token's logits.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <sstream>

#include "commands.h"
#include "core/error.h"
#include "infer/session.h"
#include "model_options.h"

namespace frugal::cli {

namespace {

std::vector<int64_t> int_list(const std::string& text, const std::string& option) {
  std::vector<int64_t> values;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 0) fail("bench: --" + option + " takes non-negative integers separated by commas, not '" + text + "'");
    values.push_back(v);
  }
  if (values.empty()) fail("bench: --" + option + " is empty");
  return values;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int cmd_bench(const Args& args) {
  std::vector<OptionSpec> specs = model_option_specs();
  std::vector<OptionSpec> more = {
      {"n-prompt", "-p", OptionKind::String, "512", "prompt lengths to time (pp), comma-separated; 0 skips"},
      {"n-gen", "-n", OptionKind::String, "128", "decode steps to time (tg), comma-separated; 0 skips"},
      {"n-depth", "-d", OptionKind::String, "0", "tokens already in the cache before each test, comma-separated"},
      {"thread-counts", "", OptionKind::String, "", "thread counts to run, comma-separated (default: --threads)"},
      {"repetitions", "-r", OptionKind::Int, "3", "runs per test; the mean and standard deviation are printed"},
      {"json", "", OptionKind::Flag, "false", "one JSON object per test instead of the table"},
  };
  specs.insert(specs.end(), more.begin(), more.end());
  for (const OptionSpec& s : precision_option_specs()) specs.push_back(s);
  Options o("bench", "Prompt and decode throughput, measured as llama-bench measures them (random tokens).", specs);
  if (!parse_or_help(o, args)) return 0;
  const std::vector<int64_t> prompts = int_list(o.get("n-prompt"), "n-prompt"), gens = int_list(o.get("n-gen"), "n-gen");
  const std::vector<int64_t> depths = int_list(o.get("n-depth"), "n-depth");
  const int64_t reps = o.get_int("repetitions");
  if (reps < 1) fail("bench: --repetitions must be >= 1");
  InferenceModel loaded = load_model_for_inference(o);
  Model& model = *loaded.model;
  std::vector<int64_t> threads = {omp_get_max_threads()};
  if (o.was_set("thread-counts")) threads = int_list(o.get("thread-counts"), "thread-counts");

  int64_t longest = 0;
  for (int64_t d : depths) longest = std::max(longest, d + std::max(*std::max_element(prompts.begin(), prompts.end()),
                                                                    *std::max_element(gens.begin(), gens.end())));
  if (longest > model.config.context_length)
    fail("bench: depth + tokens = " + std::to_string(longest) + " exceed the model's context of " +
         std::to_string(model.config.context_length));
  InferenceSession session(model, longest, loaded.precision);
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(model.config.vocab_size - 1));
  std::vector<int32_t> tokens(static_cast<size_t>(longest));

  const bool json = o.flag("json");
  if (!json) std::printf("| model | dtype | threads | test | t/s |\n| --- | --- | ---: | --- | ---: |\n");
  for (int64_t t : threads) {
    if (t < 1) fail("bench: thread counts must be >= 1");
    omp_set_num_threads(static_cast<int>(t));
    for (int64_t depth : depths)
      for (const bool decode : {false, true})
        for (int64_t n : decode ? gens : prompts) {
          if (n == 0) continue;
          std::vector<double> rates;
          for (int64_t r = -1; r < reps; ++r) {  // r = -1: a warm-up run, not counted
            for (int32_t& id : tokens) id = token(rng);
            session.reset();
            if (depth > 0) session.forward(tokens.data(), depth);
            const auto t0 = std::chrono::steady_clock::now();
            if (decode) for (int64_t i = 0; i < n; ++i) session.forward(&tokens[static_cast<size_t>(depth + i)], 1);
            else session.forward(&tokens[static_cast<size_t>(depth)], n);
            if (r >= 0) rates.push_back(static_cast<double>(n) / seconds_since(t0));
          }
          double mean = 0, var = 0;
          for (double x : rates) mean += x / static_cast<double>(rates.size());
          for (double x : rates) var += (x - mean) * (x - mean) / static_cast<double>(std::max<size_t>(1, rates.size() - 1));
          const std::string test = std::string(decode ? "tg" : "pp") + std::to_string(n) + (depth ? " @ d" + std::to_string(depth) : "");
          if (json)
            std::printf("{\"threads\": %lld, \"test\": \"%s\", \"n\": %lld, \"depth\": %lld, \"tokens_per_second\": %.3f, \"stddev\": %.3f}\n",
                        static_cast<long long>(t), decode ? "tg" : "pp", static_cast<long long>(n),
                        static_cast<long long>(depth), mean, std::sqrt(var));
          else
            std::printf("| %s | %s | %lld | %s | %.2f ± %.2f |\n", model.name.empty() ? model.path.c_str() : model.name.c_str(),
                        precision_name(loaded.precision).c_str(), static_cast<long long>(t), test.c_str(), mean, std::sqrt(var));
          std::fflush(stdout);
        }
  }
  return 0;
}

}  // namespace frugal::cli
