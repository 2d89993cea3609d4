#include <cstdio>
#include <sstream>

#include "commands.h"
#include "core/error.h"
#include "core/read_file.h"
#include "io/export_atomic.h"
#include "model/lora.h"
#include "model/module_names.h"
#include "model/prune_model.h"
#include "model_options.h"

namespace frugal::cli {

namespace {

// "2:4" -> n = 2, m = 4.
SparsityTarget parse_pattern(const std::string& p) {
  const size_t colon = p.find(':');
  SparsityTarget t;
  try {
    if (colon == std::string::npos) throw std::invalid_argument(p);
    size_t used_n = 0, used_m = 0;
    t.n = std::stoll(p.substr(0, colon), &used_n);
    t.m = std::stoll(p.substr(colon + 1), &used_m);
    if (used_n != colon || used_m != p.size() - colon - 1) throw std::invalid_argument(p);
  } catch (const std::logic_error&) {
    fail("--pattern", p, "must be N:M, e.g. 2:4 or 4:8");
  }
  return t;
}

std::vector<WeightRole> parse_layers(const std::string& spec) {
  try {
    return parse_lora_targets(spec);
  } catch (const Error&) {
    fail("--layers", spec,
         "must be a comma list of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj (or all-linear)");
  }
}

void print_plan(const std::vector<PruneLayerPlan>& plan, const PruneOptions& o, const Model& model, int64_t samples,
                int64_t seq) {
  int64_t params = 0;
  for (const PruneLayerPlan& p : plan) params += p.rows * p.cols;
  std::string roles;
  for (WeightRole r : o.roles) {
    if (!roles.empty()) roles += ',';
    roles += hf_target_name(r);
  }
  std::string how = prune_method_name(o.method);
  if (o.method == PruneMethod::Magnitude && !o.target.structured())
    how += o.magnitude_scope == PruneScope::Row ? " (per output row)" : " (per matrix)";
  if (o.method == PruneMethod::SparseGpt) {
    std::ostringstream s;
    s << " (blocks of " << o.sparsegpt.block_size << " columns, dampening " << o.sparsegpt.dampening << " x mean diag)";
    how += s.str();
  }
  std::fprintf(
      stderr,
      "prune plan: %s, target %s zeros, %zu matrices (%s in each of %lld blocks), %lld weights (%.1f%% of %s's)\n",
      how.c_str(), o.target.describe().c_str(), plan.size(), roles.c_str(),
      static_cast<long long>(model.config.n_layers), static_cast<long long>(params),
      100.0 * static_cast<double>(params) / static_cast<double>(std::max<int64_t>(1, model.config.parameter_count())),
      model.name.empty() ? "the model" : model.name.c_str());
  std::fprintf(stderr, "prune plan: embedding, norms and output head are kept dense\n");
  if (prune_needs_calibration(o.method))
    std::fprintf(stderr,
                 "prune plan: calibration %lld samples x %lld tokens, block by block (each block sees the pruned "
                 "blocks' outputs)\n",
                 static_cast<long long>(samples), static_cast<long long>(seq));
}

}  // namespace

int cmd_prune(const Args& args) {
  std::vector<OptionSpec> specs = model_option_specs();
  std::vector<OptionSpec> more = {
      {"method", "", OptionKind::String, "", "magnitude, wanda or sparsegpt", true},
      {"sparsity", "", OptionKind::Float, "0.5", "fraction of each pruned matrix set to zero, inside (0, 1)"},
      {"pattern", "", OptionKind::String, "",
       "N:M instead of --sparsity: N zeros in every M consecutive weights of a row (2:4, 4:8)"},
      {"scope", "", OptionKind::String, "matrix",
       "magnitude only: rank the weights of each whole matrix, or of each output row (matrix|row)"},
      {"layers", "", OptionKind::String, "all-linear",
       "projections to prune in every block: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj or all-linear"},
      {"calib", "", OptionKind::String, "",
       "calibration text (wanda, sparsegpt): tokenized without BOS and cut into consecutive samples"},
      {"calib-samples", "", OptionKind::Int, "128", "calibration samples"},
      {"calib-seq", "", OptionKind::Int, "512", "tokens per calibration sample"},
      {"dampening", "", OptionKind::Float, "0.01",
       "sparsegpt: added to the Hessian's diagonal, as a fraction of its mean"},
      {"block-size", "", OptionKind::Int, "128", "sparsegpt: columns updated together"},
      {"out", "-o", OptionKind::String, "",
       "output: a .gguf file, or a folder for a Hugging Face model (written only when pruning succeeded)", true},
      {"format", "", OptionKind::String, "auto", "gguf, hf, or auto (gguf when --out ends in .gguf)"},
      {"dtype", "", OptionKind::String, "f16", "weight type written: f32, f16, bf16, or q8_0 (GGUF only)"},
  };
  specs.insert(specs.end(), more.begin(), more.end());
  Options o("prune",
            "Prune the blocks' linear projections one-shot (magnitude, Wanda, SparseGPT; unstructured or N:M) and "
            "write the model.",
            specs);
  if (!parse_or_help(o, args)) return 0;

  // Every option is checked before the model is loaded, and the whole plan before any weight changes.
  PruneOptions po;
  po.method = parse_prune_method(o.get("method"));
  if (o.was_set("pattern")) {
    if (o.was_set("sparsity")) fail("--pattern", o.get("pattern"), "give either --sparsity or --pattern, not both");
    po.target = parse_pattern(o.get("pattern"));
  } else {
    po.target.sparsity = o.get_float("sparsity");
  }
  validate_sparsity_target(po.target);
  const std::string scope = o.get("scope");
  if (scope != "matrix" && scope != "row") fail("--scope", scope, "must be matrix or row");
  po.magnitude_scope = scope == "row" ? PruneScope::Row : PruneScope::Matrix;
  po.roles = parse_layers(o.get("layers"));
  po.sparsegpt.dampening = o.get_float("dampening");
  if (!(po.sparsegpt.dampening >= 0.0)) fail("--dampening", o.get("dampening"), "must be >= 0");
  po.sparsegpt.block_size = o.get_int("block-size");
  if (po.sparsegpt.block_size < 1) fail("--block-size", o.get("block-size"), "must be at least 1");
  const int64_t n_samples = o.get_int("calib-samples"), seq = o.get_int("calib-seq");
  const bool calibrated = prune_needs_calibration(po.method);
  if (calibrated && !o.was_set("calib"))
    fail("--calib", "", prune_method_name(po.method) + " needs a calibration text");
  if (!calibrated && o.was_set("calib"))
    std::fprintf(stderr, "prune: magnitude pruning uses no calibration; --calib ignored\n");
  const std::string out = o.get("out");
  const ExportFormat format = parse_export_format(o.get("format"), out);
  const ExportDtype dtype = parse_export_dtype(o.get("dtype"));
  if (format == ExportFormat::HfFolder && dtype == ExportDtype::Q8_0) fail("--dtype", "q8_0", "is GGUF only");
  check_export_destination(out, format);

  auto model = load_model_from(o);
  const std::vector<PruneLayerPlan> plan = prune_plan(model->config, po);
  std::vector<std::vector<int32_t>> samples;
  if (calibrated) {
    const std::string path = o.get("calib");
    const std::vector<int32_t> tokens = model->tokenizer->encode(read_whole_file(path), false, false);
    samples = calibration_samples(tokens, n_samples, seq, path);
  }
  print_plan(plan, po, *model, n_samples, seq);

  const PruneReport r = prune_model(*model, po, samples, [](int64_t l, int64_t layers) {
    std::fprintf(stderr, "prune: block %lld/%lld done\n", static_cast<long long>(l + 1),
                 static_cast<long long>(layers));
  });
  for (const PrunedLayer& l : r.layers) {
    std::fprintf(stderr, "prune: %-36s %5lld x %-5lld zeros %6.2f%%", hf_module_name(l.plan.role, l.plan.layer).c_str(),
                 static_cast<long long>(l.plan.rows), static_cast<long long>(l.plan.cols),
                 100.0 * static_cast<double>(l.zeros) / static_cast<double>(l.plan.rows * l.plan.cols));
    if (po.method == PruneMethod::SparseGpt) std::fprintf(stderr, "  reconstruction loss %.4g", l.loss);
    std::fprintf(stderr, "\n");
  }
  std::fprintf(stderr, "prune: %lld of %lld weights are zero (%.2f%%)\n", static_cast<long long>(r.zeros),
               static_cast<long long>(r.params), 100.0 * static_cast<double>(r.zeros) / static_cast<double>(r.params));
  for (const std::string& n : export_model_atomically(*model, out, format, dtype))
    std::fprintf(stderr, "prune: %s\n", n.c_str());
  std::printf("%s\n", out.c_str());
  return 0;
}

}  // namespace frugal::cli
