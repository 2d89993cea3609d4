#include <cstdio>

#include "commands.h"
#include "core/read_file.h"
#include "core/error.h"
#include "model_options.h"

namespace frugal::cli {

int cmd_tokenize(const Args& args) {
  std::vector<OptionSpec> specs = model_option_specs();
  specs.push_back({"text", "", OptionKind::String, "", "text to tokenize"});
  specs.push_back({"file", "", OptionKind::String, "", "file whose contents to tokenize"});
  specs.push_back({"add-special", "", OptionKind::Flag, "false", "add BOS/EOS as the model does"});
  specs.push_back({"parse-special", "", OptionKind::Flag, "false", "turn special-token text into its token"});
  Options o("tokenize", "Print the token ids of a text, separated by spaces.", specs);
  if (!parse_or_help(o, args)) return 0;
  if (o.was_set("text") == o.was_set("file")) fail("tokenize: give exactly one of --text and --file");
  const std::string text = o.was_set("text") ? o.get("text") : read_whole_file(o.get("file"));
  // A separate tokenizer file (llama2.c's tok512.bin) only makes sense with its model, which also
  // tells its vocabulary size; otherwise the model file itself carries the tokenizer.
  std::unique_ptr<Tokenizer> tokenizer;
  if (o.was_set("tokenizer")) tokenizer = std::move(load_model_from(o)->tokenizer);
  else tokenizer = load_tokenizer(o.get("model"), 0);
  std::vector<int32_t> ids = tokenizer->encode(text, o.flag("add-special"), o.flag("parse-special"));
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ' ';
    out += std::to_string(ids[i]);
  }
  std::printf("%s\n", out.c_str());
  return 0;
}

}  // namespace frugal::cli
