// The planner predicts frugal's own runs (issue 5): `frugal train` on SmolLM2-135M, as a user runs
// it, for a few short steps; the peak RSS it measures (VmHWM, in summary.json) must be within 10%
// of the frugal profile's prediction it records next to it. A small subset of the grid
// (full fp32 / LoRA fp32 / LoRA bf16, checkpointing off and on), micro-batch 1 x 128 tokens; the
// whole grid at 512 tokens is a benchmark (its table is in the closing note).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../unit/run_frugal.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

const std::string kModel = test::model_cache("SmolLM2-135M-Instruct.Q4_1.gguf");

// Text records longer than 128 tokens (Tiny Shakespeare in 2,000-character pieces), so every packed
// row is full.
std::string long_rows_dataset() {
  // One file per process: the tests run in parallel processes.
  const std::string path =
      std::string(::testing::TempDir()) + "frugal_plan_run_rows_" + std::to_string(::getpid()) + ".jsonl";
  const std::string text = test::read_file(test::data_file("datasets/tinyshakespeare/input.txt"));
  std::ofstream out(path);
  for (int i = 0; i < 8; ++i) out << nlohmann::json{{"text", text.substr(i * 2000, 2000)}}.dump() << "\n";
  return path;
}

void expect_planned_peak_within_10_percent(const std::string& name, const std::string& settings) {
  ASSERT_TRUE(fs::exists(kModel)) << "no " << kModel << " (scripts/fetch_model.sh)";
  const std::string out_dir = std::string(::testing::TempDir()) + "frugal_plan_run_" + name;
  fs::remove_all(out_dir);
  test::RunResult r = test::run_frugal(
      "train --base_model " + kModel + " --dataset " + long_rows_dataset() + " --output_dir " + out_dir +
      " --sample_packing true --sequence_len 128 --micro_batch_size 1 --max_steps 2 " + settings);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(test::read_file(out_dir + "/summary.json"));
  const double measured = j["peak_rss_bytes"], planned = j["plan"]["peak_rss_bytes"];
  EXPECT_EQ(j["plan"]["micro_batch"], 1);
  EXPECT_EQ(j["plan"]["seq_len"], 128);
#if defined(FRUGAL_SANITIZED_MEMORY)
  GTEST_SKIP() << "sanitizers' shadow memory and quarantine are not part of frugal's plan";
#endif
  std::printf("%s: measured %.1f MB, planned %.1f MB (%+.1f%%)\n", name.c_str(), measured / 1e6, planned / 1e6,
              100 * (measured - planned) / planned);
  EXPECT_NEAR(measured / planned, 1.0, 0.10)
      << name << ": measured " << measured / 1e6 << " MB, planned " << planned / 1e6 << " MB\n"
      << j["plan"].dump(2);
  fs::remove_all(out_dir);
}

TEST(PlanTrainRun, LoraFp32) {
  expect_planned_peak_within_10_percent("lora_f32", "--method lora --bf16 false");
}
TEST(PlanTrainRun, LoraBf16Checkpointed) {
  expect_planned_peak_within_10_percent("lora_bf16_ckpt", "--method lora --bf16 true --gradient_checkpointing true");
}
TEST(PlanTrainRun, FullFp32Checkpointed) {
  expect_planned_peak_within_10_percent("full_f32_ckpt", "--method full --bf16 false --gradient_checkpointing true");
}

}  // namespace
}  // namespace frugal
