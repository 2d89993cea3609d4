// frugal: one binary, one subcommand per job. Parsing lives here; the work lives in the library.
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <string>

#include "commands.h"
#include "core/error.h"
#include "parallel/communicator.h"

namespace {

struct Command {
  int (*run)(const frugal::cli::Args&);
  const char* summary;
};

const std::map<std::string, Command>& commands() {
  static const std::map<std::string, Command> table = {
      {"info", {frugal::cli::cmd_info, "show a model's architecture, parameter count and tensor types"}},
      {"generate", {frugal::cli::cmd_generate, "generate text from a prompt"}},
      {"bench", {frugal::cli::cmd_bench, "prompt and decode throughput, measured as llama-bench measures them"}},
      {"tokenize", {frugal::cli::cmd_tokenize, "print the token ids of a text"}},
      {"perplexity", {frugal::cli::cmd_perplexity, "perplexity of a model on a text file (sliding window)"}},
      {"plan", {frugal::cli::cmd_plan, "memory and compute estimate, and the decision tree that makes a run fit"}},
      {"merge", {frugal::cli::cmd_merge, "merge a LoRA adapter into its base and write GGUF or a Hugging Face folder"}},
      {"evaluate", {frugal::cli::cmd_evaluate, "eval loss and exact-match accuracy of greedy answers on a chat/instruction dataset"}},
      {"make-dataset", {frugal::cli::cmd_make_dataset, "write the built-in task (dates to ISO 8601) as chat JSONL"}},
      {"quantize", {frugal::cli::cmd_quantize, "quantize the linear layers (nf4/fp4/int8): bits/param, RMSE, perplexity, bitsandbytes folder"}},
      {"prune", {frugal::cli::cmd_prune, "prune the blocks' projections one-shot (magnitude, Wanda, SparseGPT; 50% or 2:4) and write the model"}},
      {"init-model", {frugal::cli::cmd_init_model, "write a Llama model with random weights (a preset's shape or given dims) as GGUF"}},
      {"serve", {frugal::cli::cmd_serve, "serve the model and its LoRA adapters over an OpenAI-compatible HTTP API"}},
      {"train", {frugal::cli::cmd_train, "fine-tune with LoRA or fully from a YAML config and/or --key value options"}},
  };
  return table;
}

void usage(FILE* out) {
  std::fprintf(out, "usage: frugal <command> [options]   (frugal <command> --help for its options)\n\ncommands:\n");
  for (const auto& [name, c] : commands()) std::fprintf(out, "  %-12s %s\n", name.c_str(), c.summary);
}

// One line naming the command (and the rank, in a distributed job), then the exit code; a rank of a
// distributed job ends the whole job, so the other ranks do not wait for it forever.
int fail_job(const char* command, const char* kind, const char* what, int code) {
  std::fprintf(stderr, "frugal %s: %s%s: %s\n", command, kind, frugal::rank_label_if_distributed().c_str(), what);
  std::fflush(stderr);
  frugal::abort_job_if_distributed(code);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  auto it = commands().find(argv[1]);
  if (it == commands().end()) {
    std::fprintf(stderr, "frugal: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
  }
  try {
    return it->second.run(frugal::cli::Args(argv + 2, argv + argc));
  } catch (const frugal::Error& e) {
    return fail_job(argv[1], "error", e.what(), 1);
  } catch (const std::bad_alloc&) {
    return fail_job(argv[1], "error", "out of memory", 1);
  } catch (const std::exception& e) {
    return fail_job(argv[1], "internal error", e.what(), 3);
  }
}
