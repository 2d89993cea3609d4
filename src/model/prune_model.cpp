#include "model/prune_model.h"

#include <cmath>
#include <map>

#include "core/error.h"
#include "model/module_names.h"
#include "model/prune_calibration.h"

namespace frugal {

PruneMethod parse_prune_method(const std::string& name) {
  if (name == "magnitude") return PruneMethod::Magnitude;
  if (name == "wanda") return PruneMethod::Wanda;
  if (name == "sparsegpt") return PruneMethod::SparseGpt;
  fail("--method", name, "must be magnitude, wanda or sparsegpt");
}

std::string prune_method_name(PruneMethod method) {
  switch (method) {
    case PruneMethod::Magnitude:
      return "magnitude";
    case PruneMethod::Wanda:
      return "wanda";
    case PruneMethod::SparseGpt:
      return "sparsegpt";
  }
  return "?";
}

bool prune_needs_calibration(PruneMethod method) {
  return method != PruneMethod::Magnitude;
}

std::vector<PruneLayerPlan> prune_plan(const LlamaConfig& config, const PruneOptions& options) {
  validate_sparsity_target(options.target);
  if (options.roles.empty()) fail("--layers", "", "no projections to prune");
  std::vector<PruneLayerPlan> plan;
  for (int64_t l = 0; l < config.n_layers; ++l)
    for (WeightRole role : options.roles) {
      const PruneLayerPlan p{role, l, linear_out_features(config, role), linear_in_features(config, role)};
      if (options.target.structured() && p.cols % options.target.m != 0)
        fail(hf_module_name(role, l), "",
             "its rows have " + std::to_string(p.cols) +
                 " weights, not a multiple of M = " + std::to_string(options.target.m) + " for the " +
                 options.target.describe() + " pattern (leave it out with --layers)");
      plan.push_back(p);
    }
  return plan;
}

std::vector<std::vector<int32_t>> calibration_samples(const std::vector<int32_t>& tokens, int64_t count, int64_t length,
                                                      const std::string& source) {
  if (count < 1) fail("--calib-samples", std::to_string(count), "must be at least 1");
  if (length < 2) fail("--calib-seq", std::to_string(length), "must be at least 2 tokens");
  const int64_t need = count * length, have = static_cast<int64_t>(tokens.size());
  if (have < need)
    fail(source, "",
         "has " + std::to_string(have) + " tokens, fewer than the " + std::to_string(need) +
             " asked for (--calib-samples " + std::to_string(count) + " x --calib-seq " + std::to_string(length) + ")");
  std::vector<std::vector<int32_t>> out;
  for (int64_t i = 0; i < count; ++i) out.emplace_back(tokens.begin() + i * length, tokens.begin() + (i + 1) * length);
  return out;
}

namespace {

// Zeroes w where `pruned` says so.
void apply_mask(std::vector<float>& w, const std::vector<uint8_t>& pruned) {
  for (size_t i = 0; i < w.size(); ++i)
    if (pruned[i]) w[i] = 0.0f;
}

void select(std::vector<uint8_t>& pruned, const std::vector<float>& scores, const PruneLayerPlan& p,
            const SparsityTarget& t, PruneScope scope) {
  if (t.structured())
    select_lowest_n_of_m(pruned, scores.data(), p.rows, p.cols, t.n, t.m);
  else if (scope == PruneScope::Matrix)
    select_lowest_per_matrix(pruned, scores.data(), p.rows, p.cols, t.sparsity);
  else
    select_lowest_per_row(pruned, scores.data(), p.rows, p.cols, t.sparsity);
}

// One projection, given its inputs' statistics when the method needs them.
double prune_layer(Matrix& m, const PruneLayerPlan& p, const PruneOptions& o, const InputStatistics* stats) {
  std::vector<float>& w = m.data;
  std::vector<float> scores(w.size());
  std::vector<uint8_t> pruned;
  double loss = 0;
  switch (o.method) {
    case PruneMethod::Magnitude:
      for (size_t i = 0; i < w.size(); ++i) scores[i] = std::fabs(w[i]);
      select(pruned, scores, p, o.target, o.magnitude_scope);
      apply_mask(w, pruned);
      break;
    case PruneMethod::Wanda: {
      // |w| * ||x_j||, the norm over the calibration tokens (scaled per sample, as llm-compressor's
      // running mean; a common factor that leaves the ranking alone), ranked within each row.
      std::vector<float> norm(static_cast<size_t>(p.cols));
      for (int64_t c = 0; c < p.cols; ++c)
        norm[c] = std::sqrt(static_cast<float>(stats->sq_norm[c] / static_cast<double>(stats->samples)));
      for (int64_t r = 0; r < p.rows; ++r)
        for (int64_t c = 0; c < p.cols; ++c) scores[r * p.cols + c] = std::fabs(w[r * p.cols + c]) * norm[c];
      select(pruned, scores, p, o.target, PruneScope::Row);
      apply_mask(w, pruned);
      break;
    }
    case PruneMethod::SparseGpt: {
      // In llm-compressor's scale, 2 / samples * sum x x^T, so the reported losses read alike (the
      // pruning itself does not depend on it: the dampening is relative).
      std::vector<double> h = stats->xtx;  // consumed
      const double scale = 2.0 / static_cast<double>(stats->samples);
      for (double& v : h) v *= scale;
      loss = sparsegpt_prune(w.data(), p.rows, p.cols, h, o.target, o.sparsegpt);
      break;
    }
  }
  m.bf16.clear();  // derived copies are stale now
  return loss;
}

}  // namespace

PruneReport prune_model(Model& model, const PruneOptions& options, const std::vector<std::vector<int32_t>>& samples,
                        const std::function<void(int64_t, int64_t)>& progress) {
  const LlamaConfig& c = model.config;
  const std::vector<PruneLayerPlan> plan = prune_plan(c, options);
  const bool calibrated = prune_needs_calibration(options.method);
  if (calibrated && samples.empty())
    fail("prune", "", prune_method_name(options.method) + " needs calibration samples (--calib)");
  std::unique_ptr<LayerCalibration> calibration;
  if (calibrated) calibration = std::make_unique<LayerCalibration>(model, samples);
  PruneReport report;
  size_t next = 0;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    std::map<LinearInput, InputStatistics> stats;
    for (size_t i = next; i < plan.size() && plan[i].layer == l; ++i) {
      InputStatistics& s = stats[linear_input_of(plan[i].role)];
      s.width = plan[i].cols;
      s.want_hessian = options.method == PruneMethod::SparseGpt;
    }
    if (calibrated && !stats.empty()) calibration->collect(l, stats);
    for (; next < plan.size() && plan[next].layer == l; ++next) {
      const PruneLayerPlan& p = plan[next];
      Matrix& m = linear_weight(model.weights, p.role, l);
      m.expand_to_fp32();
      PrunedLayer done{p, 0, 0};
      done.loss = prune_layer(m, p, options, calibrated ? &stats.at(linear_input_of(p.role)) : nullptr);
      for (float v : m.data) done.zeros += v == 0.0f;
      report.params += p.rows * p.cols;
      report.zeros += done.zeros;
      report.layers.push_back(done);
    }
    if (calibrated && l + 1 < c.n_layers) calibration->advance(l);
    if (progress) progress(l, c.n_layers);
  }
  return report;
}

}  // namespace frugal
