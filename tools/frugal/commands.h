// One function per subcommand; each parses its own options and returns the process exit code.
#pragma once
#include <string>
#include <vector>

namespace frugal::cli {

using Args = std::vector<std::string>;

int cmd_info(const Args& args);
int cmd_generate(const Args& args);
int cmd_bench(const Args& args);
int cmd_tokenize(const Args& args);
int cmd_perplexity(const Args& args);
int cmd_plan(const Args& args);
int cmd_train(const Args& args);
int cmd_merge(const Args& args);
int cmd_evaluate(const Args& args);
int cmd_make_dataset(const Args& args);
int cmd_quantize(const Args& args);
int cmd_init_model(const Args& args);
int cmd_serve(const Args& args);
int cmd_prune(const Args& args);

}  // namespace frugal::cli
