// The fine-tuning decision tree (lecture: first make weights, gradients and optimizer state fit:
// full -> mixed precision -> LoRA -> QLoRA; then activations at batch 1 with gradient
// checkpointing; then grow the batch with accumulation; never quantize just to raise the batch).
#include <gtest/gtest.h>

#include "plan/decision_tree.h"

namespace frugal {
namespace {

constexpr double GiB = 1024.0 * 1024.0 * 1024.0;

PlanInputs run(const std::string& preset, int64_t seq_len) {
  PlanInputs in;
  in.model = find_preset(preset);
  in.seq_len = seq_len;
  return in;
}

std::vector<std::string> actions(const Decision& d) {
  std::vector<std::string> out;
  for (const DecisionStep& s : d.steps) out.push_back(s.action.substr(0, s.action.find(' ')));
  return out;
}

// A 24 GiB GPU and Llama-2-7B at 4096 tokens: full fine-tuning (108 GB) does not fit; LoRA on a
// bf16 base does, once activations are cut (about 100 GB at batch 1 per the lecture's formula)
// by memory-efficient attention and gradient checkpointing.
TEST(PlanDecision, Llama2_7BOn24GiB) {
  Decision d = decide(run("llama-2-7b", 4096), 24 * GiB);
  ASSERT_TRUE(d.fits) << d.verdict;
  EXPECT_EQ(actions(d), (std::vector<std::string>{"mixed", "LoRA", "memory-efficient", "gradient"}));
  EXPECT_GT(d.steps.front().memory_before, 100e9);  // full fine-tuning in fp32
  EXPECT_FALSE(d.steps[1].fits_after);              // LoRA alone: activations still too big
  EXPECT_TRUE(d.steps.back().fits_after);
  EXPECT_EQ(d.result.method, Method::Lora);
  EXPECT_EQ(d.result.resolved_weights_dtype(), Dtype::BF16);
  EXPECT_TRUE(d.result.gradient_checkpointing);
  EXPECT_LE(d.memory, 24 * GiB);
  for (const DecisionStep& s : d.steps) EXPECT_GT(s.throughput_factor, 0);
  EXPECT_LT(d.steps.back().throughput_factor, 1.0);  // checkpointing costs a forward
  EXPECT_GT(d.steps[1].throughput_factor, 1.0);      // LoRA skips the frozen weight gradients
}

// At 512 tokens the same model needs no checkpointing: LoRA's activations (3.6 GB) fit.
TEST(PlanDecision, Llama2_7BShortSequencesNeedNoCheckpointing) {
  Decision d = decide(run("llama-2-7b", 512), 24 * GiB);
  ASSERT_TRUE(d.fits);
  EXPECT_EQ(actions(d), (std::vector<std::string>{"mixed", "LoRA"}));
  EXPECT_FALSE(d.result.gradient_checkpointing);
}

// Llama-2-13B's bf16 base alone is 26 GB: only QLoRA fits in 24 GiB.
TEST(PlanDecision, Llama2_13BNeedsQlora) {
  Decision d = decide(run("llama-2-13b", 512), 24 * GiB);
  ASSERT_TRUE(d.fits) << d.verdict;
  EXPECT_EQ(d.result.method, Method::Qlora);
  EXPECT_EQ(actions(d), (std::vector<std::string>{"mixed", "LoRA", "QLoRA"}));
}

// 70B parameters in 4 bits are ~35 GB: nothing makes it fit in 24 GiB.
TEST(PlanDecision, SeventyBillionDoesNotFitEvenWithEverything) {
  Decision d = decide(run("llama-2-70b", 512), 24 * GiB);
  EXPECT_FALSE(d.fits);
  EXPECT_NE(d.verdict.find("does not fit even with everything"), std::string::npos);
  EXPECT_EQ(d.result.method, Method::Qlora);
  EXPECT_TRUE(d.result.gradient_checkpointing);
  EXPECT_GT(d.memory, 24 * GiB);
}

// With 8 ranks of 80 GB, ZeRO's stages come before giving up full-model gradients.
TEST(PlanDecision, ZeroStagesBeforeLora) {
  PlanInputs in = run("llama-2-70b", 512);
  in.ranks = 8;
  Decision d = decide(in, 80e9);
  ASSERT_TRUE(d.fits) << d.verdict;
  EXPECT_EQ(actions(d), (std::vector<std::string>{"mixed", "ZeRO", "ZeRO", "ZeRO", "LoRA"}));
  EXPECT_EQ(d.result.zero_stage, 3);
  EXPECT_LT(d.steps[3].throughput_factor, 1.0);  // ZeRO-3 gathers parameters
}

// The batch stage grows the micro-batch and makes up the rest with accumulation, and never
// quantizes for it: Llama-2-7B at 512 tokens wanting 64 sequences per step stays LoRA on bf16.
TEST(PlanDecision, BatchGrowsWithoutQuantization) {
  PlanInputs in = run("llama-2-7b", 512);
  in.micro_batch = 64;
  Decision d = decide(in, 24 * GiB);
  ASSERT_TRUE(d.fits);
  EXPECT_EQ(d.result.method, Method::Lora);
  EXPECT_EQ(d.result.micro_batch * d.result.grad_accum, 64);
  EXPECT_GT(d.result.micro_batch, 1);
  EXPECT_GT(d.result.grad_accum, 1);
  EXPECT_LE(d.memory, 24 * GiB);
  PlanInputs bigger = d.result;
  bigger.micro_batch *= 2;
  EXPECT_GT(plan_memory(bigger).peak(), 24 * GiB);  // the next power of two would not fit
}

// A small model fits as wanted: nothing to change but the batch.
TEST(PlanDecision, SmallModelFullFineTuning) {
  PlanInputs in = run("smollm2-135m", 512);
  in.micro_batch = 4;
  Decision d = decide(in, 24 * GiB);
  ASSERT_TRUE(d.fits);
  EXPECT_EQ(d.result.method, Method::Full);
  EXPECT_EQ(d.result.micro_batch, 4);
  EXPECT_EQ(d.result.grad_accum, 1);
}

TEST(PlanDecision, InferenceShrinksOnlyTheWeights) {
  PlanInputs in = run("llama-2-13b", 4096);
  in.method = Method::Inference;
  Decision d = decide(in, 16 * GiB);  // 26 GB in bf16, 13 GB in int8
  ASSERT_TRUE(d.fits) << d.verdict;
  EXPECT_EQ(d.result.resolved_weights_dtype(), Dtype::Int8);
}

// "What is the largest ... that fits": each answer fits and one more does not.
TEST(PlanDecision, LargestThatFits) {
  PlanInputs in = run("llama-2-7b", 512);
  in.method = Method::Lora;
  in.mixed_precision = true;
  const double budget = 24 * GiB;
  const int64_t b = largest_micro_batch(in, budget);
  ASSERT_GT(b, 1);
  in.micro_batch = b;
  EXPECT_LE(plan_memory(in).peak(), budget);
  in.micro_batch = b + 1;
  EXPECT_GT(plan_memory(in).peak(), budget);

  in.micro_batch = 1;
  const int64_t s = largest_seq_len(in, budget, 1 << 16);
  ASSERT_GT(s, 512);
  in.seq_len = s;
  EXPECT_LE(plan_memory(in).peak(), budget);
  in.seq_len = s + 1;
  EXPECT_GT(plan_memory(in).peak(), budget);

  in.seq_len = 512;
  in.method = Method::Qlora;
  const ModelShape* m = largest_preset_that_fits(in, budget);
  ASSERT_NE(m, nullptr);
  in.model = *m;
  EXPECT_LE(plan_memory(in).peak(), budget);
  EXPECT_LT(m->parameters, 30e9);
  EXPECT_GT(m->parameters, 10e9);
  EXPECT_EQ(largest_micro_batch(in, 1e6), 0);  // 1 MB: nothing fits
}

}  // namespace
}  // namespace frugal
