// Helpers for data-parallel tests: running `frugal train` under mpirun, and comparing two runs'
// per-step losses and final trainable values (read from their last checkpoints).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "format/safetensors.h"
#include "run_frugal.h"
#include "train/checkpoint.h"

namespace frugal::test {

// Open MPI refuses root unless told; CI runs as root. --oversubscribe: a 2-core machine running
// tests in parallel; --bind-to none: ranks share cores with other tests instead of pinning to one.
inline std::string mpirun(int ranks) {
  return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 "
         "mpirun --bind-to none -np " + std::to_string(ranks) + " ";
}

// `frugal train args` with `ranks` processes (1: no launcher at all, the plain single-process path).
inline RunResult run_train(int ranks, const std::string& args) {
  if (ranks == 1) return run_frugal("train " + args);
  return run_command(mpirun(ranks) + frugal_binary() + " train " + args);
}

// The "loss" of every logged line of a run's metrics.jsonl, in order.
inline std::vector<double> step_losses(const std::string& output_dir) {
  std::vector<double> losses;
  std::ifstream in(output_dir + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j.contains("loss")) losses.push_back(j["loss"].get<double>());
  }
  return losses;
}

inline std::vector<float> checkpoint_values(const std::string& checkpoint_dir) {
  return to_f32(SafetensorsFile(checkpoint_dir + "/trainable.safetensors").get("values"));
}

// Same per-step losses (relative `loss_tolerance`) and same final values (max abs difference within
// `value_tolerance` of the largest value): what "equal within fp32 noise" means here.
inline void expect_same_run(const std::string& a, const std::string& b, double loss_tolerance,
                            double value_tolerance) {
  const std::vector<double> la = step_losses(a), lb = step_losses(b);
  ASSERT_FALSE(la.empty());
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i)
    EXPECT_NEAR(la[i], lb[i], loss_tolerance * std::abs(la[i])) << "step " << i + 1;
  const std::vector<float> va = checkpoint_values(latest_checkpoint(a).value_or(a)),
                           vb = checkpoint_values(latest_checkpoint(b).value_or(b));
  ASSERT_EQ(va.size(), vb.size());
  double largest = 0, diff = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    largest = std::max(largest, static_cast<double>(std::abs(va[i])));
    diff = std::max(diff, static_cast<double>(std::abs(va[i] - vb[i])));
  }
  EXPECT_LE(diff, value_tolerance * largest) << "largest value " << largest;
}

}  // namespace frugal::test
