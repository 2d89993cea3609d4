// Issue 4: QLoRA training of SmolLM2-135M-Instruct on the built-in task (dates in everyday styles to
// YYYY-MM-DD) reaches held-out exact match within a few points of bf16 LoRA. Both runs use the main
// job's settings (scripts/run_default.sh): 2000 training and 100 held-out examples, LoRA r 16 on all
// linear layers, 60 steps of 8 examples; the QLoRA adapter is evaluated on the same NF4 base it was
// trained on. Measured when written: LoRA 96 / 100, QLoRA (NF4, double quant) 93 / 100.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

#include "../unit/run_frugal.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

const std::string kModel = test::model_cache("SmolLM2-135M-Instruct.Q4_1.gguf");

// "exact match 96 / 100 = 96.0%, ..." -> 96
int exact_matches(const std::string& evaluate_output) {
  std::smatch m;
  if (!std::regex_search(evaluate_output, m, std::regex("exact match (\\d+) / 100"))) return -1;
  return std::stoi(m[1]);
}

int train_and_evaluate(const std::string& dir, const std::string& data, const std::string& train_options,
                       const std::string& evaluate_options) {
  test::RunResult t = test::run_frugal(
      "train --base_model " + kModel + " --dataset " + data + "/train.jsonl --output_dir " + dir +
      " --lora_r 16 --lora_alpha 32 --learning_rate 1e-3 --warmup_steps 5 --micro_batch_size 8 --max_steps 60"
      " --logging_steps 10 " + train_options);
  EXPECT_EQ(t.exit_code, 0) << t.err;
  test::RunResult e = test::run_frugal("evaluate -m " + kModel + " --adapter " + dir + "/adapter --data " + data +
                                       "/eval.jsonl " + evaluate_options);
  EXPECT_EQ(e.exit_code, 0) << e.err;
  return exact_matches(e.out);
}

TEST(QLoraBuiltinTask, HeldOutExactMatchWithinAFewPointsOfBf16Lora) {
  ASSERT_TRUE(fs::exists(kModel)) << "no " << kModel << " (scripts/fetch_model.sh)";
  const std::string base = std::string(::testing::TempDir()) + "frugal_qlora_task_" + std::to_string(::getpid());
  fs::remove_all(base);
  const std::string data = base + "/data";
  ASSERT_EQ(test::run_frugal("make-dataset -o " + data + " --train 2000 --eval 100").exit_code, 0);
  const int lora = train_and_evaluate(base + "/lora", data, "--bf16 true", "");
  const int qlora = train_and_evaluate(base + "/qlora", data, "--bf16 true --load_in_4bit true", "--load-in-4bit nf4-dq");
  std::printf("held-out exact match: bf16 LoRA %d / 100, QLoRA NF4+DQ %d / 100\n", lora, qlora);
  EXPECT_GE(lora, 85);          // the task is learned at all
  EXPECT_GE(qlora, lora - 5);   // "within a few points"
  fs::remove_all(base);
}

}  // namespace
}  // namespace frugal
