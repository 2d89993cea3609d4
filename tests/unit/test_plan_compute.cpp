// The compute model against published FLOP counts and the lecture's rules of thumb, and the
// presets against the parameter counts their publishers give.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "plan/compute_model.h"
#include "test_paths.h"

namespace frugal {
namespace {

PlanInputs preset_run(const std::string& name, Method method, int64_t seq_len) {
  PlanInputs in;
  in.model = find_preset(name);
  in.method = method;
  in.seq_len = seq_len;
  return in;
}

// Parameter counts as published (Hugging Face model pages / safetensors metadata of each
// config.json, the LLaMA paper's 65.2B; the GPT-3 shape is ours, see model_shapes.cpp).
TEST(PlanPresets, ParameterCountsMatchPublished) {
  EXPECT_EQ(find_preset("llama-2-7b").parameters, 6738415616.0);
  EXPECT_EQ(find_preset("llama-2-13b").parameters, 13015864320.0);
  EXPECT_EQ(find_preset("llama-2-70b").parameters, 68976648192.0);
  EXPECT_EQ(find_preset("llama-3-8b").parameters, 8030261248.0);
  EXPECT_EQ(find_preset("llama-3-70b").parameters, 70553706496.0);
  EXPECT_EQ(find_preset("tinyllama-1.1b").parameters, 1100048384.0);
  EXPECT_EQ(find_preset("smollm2-135m").parameters, 134515008.0);
  EXPECT_EQ(find_preset("smollm2-360m").parameters, 361821120.0);
  EXPECT_EQ(find_preset("smollm2-1.7b").parameters, 1711376384.0);
  EXPECT_NEAR(find_preset("llama-65b").parameters / 1e9, 65.2, 0.1);
  EXPECT_NEAR(find_preset("gpt-3-175b").parameters / 1e9, 175, 1);
  EXPECT_NEAR(find_preset("stories260k").parameters / 1e3, 260, 10);
  EXPECT_EQ(&find_preset("Llama-2-7B"), &find_preset("llama-2-7b"));  // case-insensitive
  EXPECT_THROW(find_preset("llama-9b"), Error);
}

// Kaplan et al. 2020, section 2.1: training costs C ~ 6N FLOPs per token (2N forward, 4N
// backward), attention aside. At a short context our count must be within a few percent of it.
TEST(PlanCompute, FullFineTuningIsSixNPerToken) {
  PlanInputs in = preset_run("llama-2-7b", Method::Full, 128);
  FlopsPerToken f = flops_per_token(in);
  EXPECT_NEAR(f.total() / (6 * in.model.parameters), 1.0, 0.03);
  EXPECT_NEAR(f.backward / f.forward, 2.0, 1e-9);  // backward = 2 x forward, attention included
  EXPECT_EQ(f.recompute, 0);
}

// PyTorch's own count (torch.utils.flop_counter) of one training step of transformers' Llama in
// stories260K's shape, 2 x 64 tokens, eager attention (tests/reference/make_flops_fixture.py): the
// model's per-token FLOPs times the tokens equal it exactly, once the two differences the fixture
// records from PyTorch's per-module counts are put in: the rotary angle product the model leaves
// out, and (LoRA) the first block's attention input gradients PyTorch skips because nothing before
// them trains. The trainer's MFU rests on this count.
TEST(PlanCompute, TrainingStepEqualsPyTorchsFlopCount) {
  const auto f = nlohmann::json::parse(test::read_file(test::fixture("train/flops_stories260k.json")));
  const double tokens = f["batch"].get<double>() * f["seq_len"].get<double>();
  const double rotary = f["rotary_flops"].get<double>();
  PlanInputs in = preset_run("stories260k", Method::Full, f["seq_len"].get<int64_t>());
  EXPECT_EQ(flops_per_token(in).total() * tokens + rotary, f["full_step_flops"].get<double>());

  in.method = Method::Lora;
  in.lora_r = f["lora_r"].get<int64_t>();
  const double skipped_in_block0 = f["lora_block1_flops"].get<double>() - f["lora_block0_flops"].get<double>();
  EXPECT_GT(skipped_in_block0, 0);
  EXPECT_EQ(flops_per_token(in).total() * tokens - skipped_in_block0 + rotary, f["lora_step_flops"].get<double>());
}

// Brown et al. 2020 (GPT-3), Table D.1: training GPT-3 175B on 300B tokens took 3.14e23 FLOPs,
// counted as 6N per token, attention ignored. Our count includes attention at s = 2048 (about 3%).
TEST(PlanCompute, Gpt3TrainingCompute) {
  PlanInputs in = preset_run("gpt-3-175b", Method::Full, 2048);
  const double total = flops_per_token(in).total() * 300e9;
  EXPECT_NEAR(total / 3.14e23, 1.0, 0.05);
}

// Lecture: backward ~2x forward, minus the weight gradients of frozen layers. With LoRA the
// backward is about one forward (input gradients only) plus the adapters' own small gradients,
// so a LoRA step costs about 2/3 of a full fine-tuning step.
TEST(PlanCompute, LoraSkipsFrozenWeightGradients) {
  PlanInputs full = preset_run("llama-2-7b", Method::Full, 512);
  PlanInputs lora = full;
  lora.method = Method::Lora;
  lora.lora_r = 8;
  const FlopsPerToken f = flops_per_token(full), l = flops_per_token(lora);
  EXPECT_NEAR(l.total() / f.total(), 2.0 / 3.0, 0.02);
  EXPECT_GT(l.total(), 4 * lora.model.parameters * 0.95);
  PlanInputs qlora = lora;
  qlora.method = Method::Qlora;  // the same FLOPs: dequantization is not a matmul
  EXPECT_DOUBLE_EQ(flops_per_token(qlora).total(), l.total());
}

// Gradient checkpointing re-runs the blocks' forward in backward: a full step becomes ~4/3.
TEST(PlanCompute, CheckpointingAddsOneForward) {
  PlanInputs in = preset_run("llama-2-7b", Method::Full, 512);
  const double plain = flops_per_token(in).total();
  in.gradient_checkpointing = true;
  const FlopsPerToken f = flops_per_token(in);
  EXPECT_NEAR(f.total() / plain, 4.0 / 3.0, 0.01);
  EXPECT_LT(f.recompute, f.forward);  // the output head is not recomputed
}

// Attention adds 2 x 2 x s x h per layer per token to the forward (QK^T and PV).
TEST(PlanCompute, AttentionTermGrowsWithContext) {
  PlanInputs a = preset_run("llama-2-7b", Method::Inference, 1024);
  PlanInputs b = a;
  b.seq_len = 2048;
  EXPECT_DOUBLE_EQ(flops_per_token(b).forward - flops_per_token(a).forward, 2.0 * 2.0 * 1024 * 4096 * 32);
  EXPECT_EQ(flops_per_token(a).backward, 0);
}

// Hoffmann et al. 2022: Chinchilla, 70B parameters, was trained on 1.4T tokens, 20 per parameter.
TEST(PlanCompute, ChinchillaReferenceAndTime) {
  PlanInputs in;
  in.model = shape_from_parameter_count("70B", 70e9);
  in.method = Method::Full;
  in.micro_batch = 4;
  in.seq_len = 512;
  in.grad_accum = 8;
  ComputeInputs c;
  c.dataset_tokens = 1e9;
  c.tokens_per_second = 1000;
  ComputeEstimate e = estimate_compute(in, c);
  EXPECT_DOUBLE_EQ(e.chinchilla_tokens, 1.4e12);
  EXPECT_DOUBLE_EQ(e.tokens_per_step, 4 * 512 * 8);
  EXPECT_DOUBLE_EQ(e.seconds, 1e6);
  EXPECT_EQ(e.basis, "measured throughput");
  // From a peak and an MFU: 6N per token for a bare size.
  c.tokens_per_second = 0;
  c.peak_flops = 1e15;
  c.mfu = 0.42;
  e = estimate_compute(in, c);
  EXPECT_DOUBLE_EQ(e.tokens_per_second, 1e15 * 0.42 / (6 * 70e9));
  EXPECT_EQ(e.basis, "peak x MFU");
  c.mfu = 0;
  EXPECT_THROW(estimate_compute(in, c), Error);
}

}  // namespace
}  // namespace frugal
