// Non-finite steps, driven as a user meets them: an absurd learning rate on stories260K makes the
// loss NaN. Each such step is skipped, counted and logged; a run of them stops the run with one line
// naming the learning rate, and no checkpoint ever holds weights that are non-finite or just gave a
// NaN loss. The last good checkpoint named in that line really continues training.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include "data_parallel_util.h"
#include "train/nonfinite_guard.h"
#include "train_run_util.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;
using test::RunResult;

std::string last_line(const std::string& text) {
  const std::vector<std::string> lines = test::text_lines(text);
  return lines.empty() ? "" : lines.back();
}

TEST(NonFinite, AbsurdLearningRateSkipsThenStopsNamingItAndTheLastGoodCheckpoint) {
  const std::string data = test::story_dataset("nonfinite", 32);
  const std::string out = test::fresh_dir("nonfinite_out");
  const std::string common = " --lora_r 4 --lora_alpha 8 --micro_batch_size 4 --save_steps 1";
  // Three healthy steps, then the user resumes with a learning rate of 1e30.
  RunResult sane = test::run_frugal(test::stories_train_args(data, out, "--learning_rate 5e-3 --max_steps 3" + common));
  ASSERT_EQ(sane.exit_code, 0) << sane.err;
  RunResult r = test::run_frugal(test::stories_train_args(
      data, out, "--learning_rate 1e30 --max_steps 12 --max_nonfinite_steps 3 --resume_from_checkpoint latest" + common));
  // Step 4 (from checkpoint-3's good weights) is finite and its update diverges; 5, 6, 7 are NaN.
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const std::string reason = last_line(r.err);
  EXPECT_EQ(reason.rfind("frugal train: error: training stopped at step 7: 3 steps in a row (5 to 7) had a "
                         "non-finite loss or gradient norm", 0), 0u) << r.err;
  EXPECT_NE(reason.find("the loss was finite up to step 4, so the updates diverged: learning_rate 1e+30 is likely "
                        "too high"), std::string::npos) << reason;
  EXPECT_NE(reason.find("the last good checkpoint (its weights then gave a finite loss) is " + out + "/checkpoint-3"),
            std::string::npos) << reason;
  // Each skipped step was logged with the dataset lines of its batch (4 rows of the 32-line file).
  for (int step : {5, 6, 7}) {
    const std::string head = "step " + std::to_string(step) + ": loss NaN, gradient norm NaN: update skipped (";
    const size_t at = r.err.find(head);
    ASSERT_NE(at, std::string::npos) << r.err;
    const std::string line = r.err.substr(at, r.err.find('\n', at) - at);
    const size_t lines_at = line.find("dataset lines ");
    ASSERT_NE(lines_at, std::string::npos) << line;
    const std::string lines = line.substr(lines_at);
    EXPECT_EQ(std::count(lines.begin(), lines.end(), ','), 3) << line;  // "dataset lines a, b, c, d)"
  }

  // metrics.jsonl: one record per step 1..7, the skipped ones marked and counted, their losses null.
  const std::vector<nlohmann::json> m = test::metrics_lines(out);
  ASSERT_EQ(m.size(), 7u);
  for (size_t i = 0; i < m.size(); ++i) {
    const int64_t step = static_cast<int64_t>(i) + 1;
    EXPECT_EQ(m[i]["step"], step);
    const bool skipped = step >= 5;
    EXPECT_EQ(m[i].contains("skipped"), skipped) << m[i].dump();
    EXPECT_EQ(m[i]["step_loss"].is_null(), skipped) << m[i].dump();
    EXPECT_EQ(m[i].value("skipped_steps", 0), skipped ? step - 4 : 0) << m[i].dump();
  }
  const nlohmann::json summary = nlohmann::json::parse(test::read_file(out + "/summary.json"));
  EXPECT_EQ(summary["skipped_steps"], 3);
  EXPECT_EQ("frugal train: error: " + summary["stopped"].get<std::string>(), reason);

  // No checkpoint was written while the steps were NaN; every one on disk loads and is finite.
  // checkpoint-4 holds step 4's diverged (but finite) update, which is why the reason names 3.
  for (int step = 1; step <= 7; ++step) {
    const std::string dir = out + "/checkpoint-" + std::to_string(step);
    ASSERT_EQ(fs::exists(dir), step <= 4) << dir;
    if (step > 4) continue;
    const test::LoadedCheckpoint c = test::load_checkpoint_folder(dir);
    EXPECT_TRUE(test::all_finite(c.values) && test::all_finite(c.m) && test::all_finite(c.v)) << dir;
  }
  // The named checkpoint is good: training continues from it with a sane learning rate.
  RunResult again = test::run_frugal(test::stories_train_args(
      data, out, "--learning_rate 5e-3 --max_steps 6 --resume_from_checkpoint " + out + "/checkpoint-3" + common));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const nlohmann::json done = nlohmann::json::parse(test::read_file(out + "/summary.json"));
  EXPECT_EQ(done["steps"], 6);
  EXPECT_EQ(done["skipped_steps"], 0);
  EXPECT_TRUE(std::isfinite(done["last_step_loss"].get<double>()));
}

// A learning rate so large that one update makes weights infinite: nothing to wait for, the run stops
// at that step's save, and no checkpoint holding the infinite weights is written.
TEST(NonFinite, InfiniteWeightsStopAtOnceAndAreNeverSaved) {
  const std::string data = test::story_dataset("nonfinite_inf", 16);
  const std::string out = test::fresh_dir("nonfinite_inf_out");
  RunResult r = test::run_frugal(test::stories_train_args(
      data, out, "--learning_rate 1e38 --max_steps 5 --lora_r 4 --micro_batch_size 4 --save_steps 1"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(last_line(r.err),
            "frugal train: error: training stopped at step 1; the updates made the trained weights or AdamW moments "
            "non-finite: learning_rate 1e+38 is likely too high; no checkpoint was written") << r.err;
  EXPECT_FALSE(fs::exists(out + "/checkpoint-1"));
  EXPECT_FALSE(fs::exists(out + "/latest"));
}

// Two ranks (ZeRO-1: each holds half the moments) reach the same decision from the globally reduced
// loss and norm, and the run ends as one job with the same reason.
TEST(NonFinite, TwoRanksStopTogether) {
  const std::string data = test::story_dataset("nonfinite_ranks", 32);
  const std::string out = test::fresh_dir("nonfinite_ranks_out");
  RunResult r = test::run_train(
      2, test::stories_train_args(data, out, "--learning_rate 1e30 --max_steps 12 --max_nonfinite_steps 2 "
                                             "--lora_r 4 --micro_batch_size 2 --zero_stage 1")
             .substr(6));  // run_train adds "train "
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("training stopped at step 3: 2 steps in a row (2 to 3) had a non-finite loss or gradient norm; "
                       "the loss was finite up to step 1, so the updates diverged: learning_rate 1e+30 is likely too high"),
            std::string::npos) << r.err;
  const std::vector<nlohmann::json> m = test::metrics_lines(out);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[2]["skipped_steps"], 2);
}

// The causes the guard tells apart, step by step (the runs above reach only the learning-rate ones).
TEST(NonFiniteGuard, NamesTheDataWhenNoUpdateWasEverApplied) {
  NonFiniteGuard g(2, 0, 0);
  EXPECT_FALSE(NonFiniteGuard::finite(NAN, 1.0));
  EXPECT_FALSE(NonFiniteGuard::finite(2.0, INFINITY));
  EXPECT_TRUE(NonFiniteGuard::finite(2.0, 1.0));
  EXPECT_EQ(g.skip(1, NAN, NAN, {3, 9}), "step 1: loss NaN, gradient norm NaN: update skipped (1 in a row, 2 stop "
                                         "the run; dataset lines 3, 9)");
  EXPECT_FALSE(g.must_stop());
  g.skip(2, INFINITY, 5.0, {4});
  EXPECT_TRUE(g.must_stop());
  EXPECT_EQ(g.stop_reason(2, true, 1e-4, "d.jsonl"),
            "training stopped at step 2: 2 steps in a row (1 to 2) had a non-finite loss or gradient norm; already "
            "before any update, so the model or the data give inf/NaN (step 1's batch: d.jsonl lines 3, 9); no "
            "checkpoint was written");
}

TEST(NonFiniteGuard, ALoneBadBatchIsSkippedAndTheRunGoesOn) {
  NonFiniteGuard g(3, 1, 10);  // resumed at step 10, one step skipped before
  g.finite_step(11);
  g.skip(12, NAN, NAN, {7});
  EXPECT_TRUE(g.in_bad_run());
  g.finite_step(13);  // the next batch is fine: the count in a row starts again, the total stays
  EXPECT_FALSE(g.in_bad_run());
  g.skip(14, NAN, NAN, {8});
  g.skip(15, NAN, NAN, {9});
  EXPECT_FALSE(g.must_stop());
  EXPECT_EQ(g.skipped_total(), 4);
}

TEST(NonFiniteGuard, OneStepLimitNamesTheBatchAndTheGoodCheckpoint) {
  NonFiniteGuard g(1, 0, 0);
  g.finite_step(1);
  g.checkpoint_saved(1, "out/checkpoint-1");
  g.finite_step(2);  // step 2 was finite: checkpoint-1's weights are known good
  g.checkpoint_saved(2, "out/checkpoint-2");  // not known yet: step 3 is the first to use them
  g.skip(3, NAN, NAN, {5, 6});
  ASSERT_TRUE(g.must_stop());
  EXPECT_EQ(g.stop_reason(3, true, 0.5, "d.jsonl"),
            "training stopped at step 3: its loss or gradient norm is not finite; likely the batch of d.jsonl lines "
            "5, 6 (or, if other batches fail too, learning_rate 0.5 is too high); the last good checkpoint (its "
            "weights then gave a finite loss) is out/checkpoint-1");
  EXPECT_EQ(format_line_list({1, 2, 3, 4}, 2), "1, 2, ... (4 in all)");
}

}  // namespace
}  // namespace frugal
