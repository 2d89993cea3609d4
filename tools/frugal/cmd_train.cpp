#include <cstdio>

#include "commands.h"
#include "core/error.h"
#include "train/train_config.h"
#include "train/trainer.h"

namespace frugal::cli {

int cmd_train(const Args& args) {
  for (const std::string& a : args)
    if (a == "-h" || a == "--help") {
      std::printf("usage: frugal train [config.yaml] [--key value ...]\n"
                  "Fine-tune with LoRA (or fully). Every config key can also be given on the command line,\n"
                  "where it overrides the YAML file.\n\n%s",
                  train_config_help().c_str());
      return 0;
    }
  const bool has_yaml = !args.empty() && args[0].rfind("--", 0) != 0;
  const TrainConfig config = has_yaml ? load_train_config(args[0], Args(args.begin() + 1, args.end()))
                                      : train_config_from_overrides(args);
  const TrainReport report = run_training(config);
  std::fputs(report.summary_text.c_str(), stdout);
  return 0;
}

}  // namespace frugal::cli
