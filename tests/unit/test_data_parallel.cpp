// Data-parallel training (issue 6) on stories260K: 2 ranks x micro-batch b must equal 1 rank x
// micro-batch 2b (per-step losses and final trainable values within fp32 noise) for LoRA at ZeRO
// stages 0-2 and full fine-tuning at stages 0-3, including an epoch whose last global micro-batch
// leaves one rank without rows; checkpoints resume at the same and at a different world size.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/batching.h"
#include "data_parallel_util.h"
#include "parallel/communicator.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

// 37 records of varied length; 4 held out leave 33 to train on: with 2 ranks x 2 rows, the 9th
// global micro-batch of each epoch has a single row, so rank 1 runs the placeholder batch.
std::string dataset() {
  const std::string path = std::string(::testing::TempDir()) + "frugal_dp_data_" + std::to_string(::getpid()) + ".jsonl";
  const char* lines[] = {"Lily saw a big red ball in the park.", "Tom had a little dog named Max.",
                         "The sun was warm and the sky was blue.", "She wanted to play with her mom.",
                         "Once upon a time there was a little girl who liked to run."};
  std::ofstream out(path);
  for (int i = 0; i < 37; ++i) {
    std::string text;
    for (int k = 0; k <= i % 3; ++k) text += lines[i % 5];
    out << nlohmann::json{{"text", text}}.dump() << "\n";
  }
  return path;
}

std::string out_dir(const std::string& name) {
  const std::string d = std::string(::testing::TempDir()) + "frugal_dp_" + name;
  fs::remove_all(d);
  return d;
}

std::string train_args(const std::string& method, int64_t micro_batch, const std::string& output_dir) {
  return "--base_model " + test::data_file("stories260K/stories260K.bin") + " --tokenizer " +
         test::data_file("stories260K/tok512.bin") + " --dataset " + dataset() +
         " --val_set_size 4 --lora_r 4 --learning_rate 5e-3 --lr_scheduler constant --max_steps 5"
         " --gradient_accumulation_steps 2 --max_grad_norm 0.5 --bf16 false --threads 1 --method " +
         method + " --micro_batch_size " + std::to_string(micro_batch) + " --output_dir " + output_dir;
}

struct Case {
  const char* method;
  int stage;
};

class TwoRanks : public ::testing::TestWithParam<Case> {};

TEST_P(TwoRanks, EqualOneRankWithTwiceTheMicroBatch) {
  const Case c = GetParam();
  const std::string name = std::string(c.method) + std::to_string(c.stage);
  const std::string one = out_dir(name + "_1rank"), two = out_dir(name + "_2ranks");
  test::RunResult r1 = test::run_train(1, train_args(c.method, 4, one));
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  test::RunResult r2 =
      test::run_train(2, train_args(c.method, 2, two) + " --zero_stage " + std::to_string(c.stage));
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_NE(r2.out.find("data parallel: 2 ranks, ZeRO stage " + std::to_string(c.stage)), std::string::npos) << r2.out;
  test::expect_same_run(one, two, 1e-5, 1e-4);  // Adam amplifies rounding where gradients are tiny
  const nlohmann::json s = nlohmann::json::parse(test::read_file(two + "/summary.json"));
  EXPECT_EQ(s["ranks"], 2);
  EXPECT_GT(s["communication_bytes"].get<double>(), 0);
  // The artifacts are written once, by rank 0, and read back like a single-process run's.
  EXPECT_TRUE(fs::exists(two + (std::string(c.method) == "lora" ? "/adapter/adapter_model.safetensors"
                                                                 : "/model/model.safetensors")));
}

INSTANTIATE_TEST_SUITE_P(Stages, TwoRanks,
                         ::testing::Values(Case{"lora", 0}, Case{"lora", 1}, Case{"lora", 2}, Case{"full", 0},
                                           Case{"full", 1}, Case{"full", 2}, Case{"full", 3}),
                         [](const auto& info) { return std::string(info.param.method) + "_stage" + std::to_string(info.param.stage); });

// A run stopped after step 2 and resumed continues exactly like the uninterrupted run at the same
// world size (every stage's shards are saved whole by rank 0), and at another world size with the
// same global micro-batch (the layout check refuses a different one: its data position means
// something else).
TEST(DataParallel, ResumesAtTheSameAndAtAnotherWorldSize) {
  const std::string whole = out_dir("resume_whole"), part = out_dir("resume_part");
  const std::string args = " --zero_stage 3 --save_steps 1";
  ASSERT_EQ(test::run_train(2, train_args("full", 2, whole) + args).exit_code, 0);
  test::RunResult first = test::run_train(2, train_args("full", 2, part) + args + " --max_steps 2");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  // Same config as `whole` (max_steps 5) so the schedule and the layout match; resume from step 2.
  test::RunResult resumed = test::run_train(
      2, train_args("full", 2, part) + args + " --resume_from_checkpoint " + part + "/checkpoint-2");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resumed from"), std::string::npos) << resumed.err;
  const std::vector<float> a = test::checkpoint_values(whole + "/checkpoint-5"),
                           b = test::checkpoint_values(part + "/checkpoint-5");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); i += 97) ASSERT_NEAR(a[i], b[i], 1e-6) << i;

  // One rank picks up the 2-rank checkpoint (ZeRO-3 shards were saved whole) and says what changed.
  const std::string single = out_dir("resume_single");
  fs::create_directories(single);
  fs::copy(part + "/checkpoint-2", single + "/checkpoint-2", fs::copy_options::recursive);
  test::RunResult one = test::run_train(1, train_args("full", 4, single) + " --resume_from_checkpoint " + single +
                                               "/checkpoint-2");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NE(one.err.find("written by 2 rank(s), this run has 1"), std::string::npos) << one.err;
  const std::vector<float> c = test::checkpoint_values(single + "/checkpoint-5");
  ASSERT_EQ(a.size(), c.size());
  double diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, static_cast<double>(std::abs(a[i] - c[i])));
  EXPECT_LT(diff, 1e-4);  // the same global batches: equal within fp32 noise
}

TEST(DataParallel, StageThreeNeedsFullFineTuning) {
  test::RunResult r = test::run_train(1, train_args("lora", 2, out_dir("lora3")) + " --zero_stage 3");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("zero_stage: 3: stage 3 shards the weights of full fine-tuning"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(DataParallel, ShardRangesTileEveryArray) {
  for (size_t count : {0, 1, 5, 1000, 1001})
    for (int ranks : {1, 2, 3, 8}) {
      size_t next = 0;
      for (int r = 0; r < ranks; ++r) {
        const ShardRange s = shard_range(count, r, ranks);
        EXPECT_EQ(s.begin, next);
        EXPECT_LE(s.size(), count / ranks + 1);
        next = s.end;
      }
      EXPECT_EQ(next, count);
    }
}

// Every rank's rows of a global micro-batch, put together, are the rows one process would collate.
TEST(DataParallel, RanksSplitEachGlobalMicroBatchByRows) {
  std::vector<Example> examples;
  for (int i = 0; i < 11; ++i) {
    Example e;
    for (int k = 0; k <= i % 4; ++k) e.tokens.push_back(100 + i), e.labels.push_back(100 + i);
    examples.push_back(e);
  }
  BatchingOptions o;
  o.micro_batch_size = 4;
  BatchStream whole(examples, o);
  std::vector<BatchStream> ranks(3, BatchStream(examples, o));
  for (int step = 0; step < 6; ++step) {
    const Batch all = whole.next();
    int64_t rows = 0;
    for (int r = 0; r < 3; ++r) {
      const Batch mine = ranks[r].next(r, 3);
      for (int64_t b = 0; b < mine.B; ++b, ++rows)
        for (int64_t t = 0; t < mine.T; ++t) {
          if (mine.segments[b * mine.T + t] < 0) continue;
          EXPECT_EQ(mine.tokens[b * mine.T + t], all.tokens[rows * all.T + t]) << step << " " << r;
        }
    }
    EXPECT_EQ(rows, all.B);
  }
}

}  // namespace
}  // namespace frugal
