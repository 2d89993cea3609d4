#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "core/error.h"
#include "data/builtin_task.h"
#include "model_options.h"

namespace frugal::cli {

int cmd_make_dataset(const Args& args) {
  Options o("make-dataset",
            "Write the built-in task, dates in everyday styles to rewrite as YYYY-MM-DD, as chat JSONL:\n"
            "OUT/train.jsonl and OUT/eval.jsonl (held out: a different seed).",
            {
                {"out", "-o", OptionKind::String, "", "output folder", true},
                {"train", "", OptionKind::Int, "2000", "training examples"},
                {"eval", "", OptionKind::Int, "100", "held-out examples"},
                {"seed", "", OptionKind::Int, "1", "seed of the training set (the eval set uses seed + 1000)"},
            });
  if (!parse_or_help(o, args)) return 0;
  if (o.get_int("train") < 1 || o.get_int("eval") < 1) fail("make-dataset: --train and --eval must be >= 1");
  const std::string dir = o.get("out");
  std::filesystem::create_directories(dir);
  const uint64_t seed = static_cast<uint64_t>(o.get_int("seed"));
  write_task_jsonl(dir + "/train.jsonl", make_date_task(o.get_int("train"), seed));
  write_task_jsonl(dir + "/eval.jsonl", make_date_task(o.get_int("eval"), seed + 1000));
  std::printf("%s/train.jsonl\n%s/eval.jsonl\n", dir.c_str(), dir.c_str());
  return 0;
}

}  // namespace frugal::cli
