#include <cmath>
#include <cstdio>

#include "commands.h"
#include "core/error.h"
#include "io/export_model.h"
#include "model/quantize_model.h"
#include "model_options.h"

namespace frugal::cli {

int cmd_merge(const Args& args) {
  std::vector<OptionSpec> specs = model_option_specs();
  specs.push_back({"out", "-o", OptionKind::String, "", "output: a .gguf file, or a folder for a Hugging Face model", true});
  specs.push_back({"format", "", OptionKind::String, "auto", "gguf, hf, or auto (gguf when --out ends in .gguf)"});
  specs.push_back({"dtype", "", OptionKind::String, "f16", "weight type: f32, f16, bf16, or q8_0 (GGUF only)"});
  specs.push_back({"requantize", "", OptionKind::String, "none",
                   "after merging, quantize the linear weights again and write a bitsandbytes 4-bit HF folder: "
                   "none, nf4, nf4-dq, fp4 or fp4-dq (rounds the merged weights; keeping the adapter separate is exact)"});
  Options o("merge", "Merge a LoRA adapter into its base model and write the result as GGUF or a Hugging Face folder.", specs);
  if (!parse_or_help(o, args)) return 0;
  if (!o.was_set("adapter")) std::fprintf(stderr, "merge: no --adapter given; converting the model as it is\n");
  const std::string out = o.get("out");
  std::string format = o.get("format");
  if (format == "auto") format = out.size() > 5 && out.compare(out.size() - 5, 5, ".gguf") == 0 ? "gguf" : "hf";
  if (format != "gguf" && format != "hf") fail("merge: --format must be gguf, hf or auto");
  const ExportDtype dtype = parse_export_dtype(o.get("dtype"));
  auto model = load_model_from(o);
  const std::string requantize = o.get("requantize");
  if (requantize != "none") {
    if (requantize != "nf4" && requantize != "nf4-dq" && requantize != "fp4" && requantize != "fp4-dq")
      fail("--requantize", requantize, "must be none, nf4, nf4-dq, fp4 or fp4-dq");
    if (format != "hf") fail("--requantize", requantize, "writes a bitsandbytes Hugging Face folder: use --format hf");
    for (LayerWeights& l : model->weights.layers)  // layers without an adapter may still be compact
      for (Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) m->expand_to_fp32();
    const QuantizeReport r = quantize_linears(model->weights, requantize.rfind("fp4", 0) == 0 ? WeightQuant::kFp4 : WeightQuant::kNf4,
                                              requantize.size() > 3);
    double err = 0, rms = 0;
    for (const LinearQuantError& l : r.layers) {
      err += l.rmse * l.rmse * static_cast<double>(l.params);
      rms += l.weight_rms * l.weight_rms * static_cast<double>(l.params);
    }
    std::fprintf(stderr,
                 "merge: warning: re-quantizing to %s rounds the merged weights again (rms error %.3g, %.1f%% of the "
                 "weights' rms): whatever part of the adapter's change is smaller than that is lost; keep the adapter "
                 "separate (the default) for exact results\n",
                 requantize.c_str(), std::sqrt(err / static_cast<double>(r.params)), 100 * std::sqrt(err / rms));
  }
  const std::vector<std::string> notes = format == "gguf" ? export_gguf(*model, out, dtype) : export_hf(*model, out, dtype);
  for (const std::string& n : notes) std::fprintf(stderr, "merge: %s\n", n.c_str());
  std::printf("%s\n", out.c_str());
  return 0;
}

}  // namespace frugal::cli
