#include <cstdio>

#include "commands.h"
#include "core/error.h"
#include "train/train_plan.h"
#include "train/train_config.h"
#include "train/trainer.h"

namespace frugal::cli {

int cmd_train(const Args& args_in) {
  for (const std::string& a : args_in)
    if (a == "-h" || a == "--help") {
      std::printf(
          "usage: frugal train [config.yaml] [--key value ...] [--plan-only]\n"
          "Fine-tune with LoRA (or fully). Every config key can also be given on the command line,\n"
          "where it overrides the YAML file.\n"
          "--plan-only prints the memory and compute plan of exactly this run (frugal plan's profile of\n"
          "frugal's own buffers, and the lecture's accounting) and exits without training; only the\n"
          "model's config is read.\n\n%s",
          train_config_help().c_str());
      return 0;
    }
  // --plan-only is what to do with the config, not part of it: it is not echoed into the run.
  Args args;
  bool plan_only = false;
  for (const std::string& a : args_in) {
    if (a == "--plan-only" || a == "--plan_only")
      plan_only = true;
    else
      args.push_back(a);
  }
  const bool has_yaml = !args.empty() && args[0].rfind("--", 0) != 0;
  const TrainConfig config =
      has_yaml ? load_train_config(args[0], Args(args.begin() + 1, args.end())) : train_config_from_overrides(args);
  if (plan_only) {
    std::fputs(train_plan_text(config).c_str(), stdout);
    return 0;
  }
  const TrainReport report = run_training(config);
  std::fputs(report.summary_text.c_str(), stdout);
  return 0;
}

}  // namespace frugal::cli
