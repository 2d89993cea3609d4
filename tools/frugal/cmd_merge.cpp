#include <cstdio>

#include "commands.h"
#include "core/error.h"
#include "io/export_model.h"
#include "model_options.h"

namespace frugal::cli {

int cmd_merge(const Args& args) {
  std::vector<OptionSpec> specs = model_option_specs();
  specs.push_back({"out", "-o", OptionKind::String, "", "output: a .gguf file, or a folder for a Hugging Face model", true});
  specs.push_back({"format", "", OptionKind::String, "auto", "gguf, hf, or auto (gguf when --out ends in .gguf)"});
  specs.push_back({"dtype", "", OptionKind::String, "f16", "weight type: f32, f16, bf16, or q8_0 (GGUF only)"});
  Options o("merge", "Merge a LoRA adapter into its base model and write the result as GGUF or a Hugging Face folder.", specs);
  if (!parse_or_help(o, args)) return 0;
  if (!o.was_set("adapter")) std::fprintf(stderr, "merge: no --adapter given; converting the model as it is\n");
  const std::string out = o.get("out");
  std::string format = o.get("format");
  if (format == "auto") format = out.size() > 5 && out.compare(out.size() - 5, 5, ".gguf") == 0 ? "gguf" : "hf";
  if (format != "gguf" && format != "hf") fail("merge: --format must be gguf, hf or auto");
  const ExportDtype dtype = parse_export_dtype(o.get("dtype"));
  auto model = load_model_from(o);
  const std::vector<std::string> notes = format == "gguf" ? export_gguf(*model, out, dtype) : export_hf(*model, out, dtype);
  for (const std::string& n : notes) std::fprintf(stderr, "merge: %s\n", n.c_str());
  std::printf("%s\n", out.c_str());
  return 0;
}

}  // namespace frugal::cli
