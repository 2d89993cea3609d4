// The memory model against the figures of the lecture material frugal is built from (issue 5),
// and against the ZeRO and QLoRA papers. GB is decimal (1e9), as on the slides; where a slide's
// figure only matches in GiB (2^30) or is rounded, the test says so and checks what the formula
// really gives.
#include <gtest/gtest.h>

#include "core/error.h"
#include "plan/memory_model.h"

namespace frugal {
namespace {

constexpr double GB = 1e9;
constexpr double GiB = 1024.0 * 1024.0 * 1024.0;

PlanInputs nominal(double parameters, Method method) {
  PlanInputs in;
  in.model = shape_from_parameter_count("nominal", parameters);
  in.method = method;
  return in;
}

// Slides: "10B parameters in 16 bits: 20 GB to run inference".
TEST(PlanLecture, TenBillionInferenceIn16Bits) {
  PlanInputs in = nominal(10e9, Method::Inference);
  MemoryBreakdown m = lecture_memory(in);
  EXPECT_DOUBLE_EQ(m.bytes_of("weights"), 20 * GB);
  EXPECT_DOUBLE_EQ(m.total(), 20 * GB);  // no shape: no KV cache to add
}

// Slides: "full fine-tuning at 2 + 2 + 12 bytes/param = 160 GB" for the same 10B model: 16-bit
// weights, 16-bit gradients, AdamW's 12 bytes (fp32 master copy + two fp32 moments).
TEST(PlanLecture, TenBillionFullFineTuning2Plus2Plus12) {
  PlanInputs in = nominal(10e9, Method::Full);
  in.mixed_precision = true;
  in.gradient_dtype = Dtype::BF16;
  MemoryBreakdown m = lecture_memory(in);
  EXPECT_DOUBLE_EQ(m.bytes_of("weights"), 20 * GB);
  EXPECT_DOUBLE_EQ(m.bytes_of("gradients"), 20 * GB);
  EXPECT_DOUBLE_EQ(m.bytes_of("master weights") + m.bytes_of("optimizer state"), 120 * GB);
  EXPECT_DOUBLE_EQ(m.total(), 160 * GB);
}

// Slides: Llama-2-13B full fine-tuning: bf16 weights 26 GB, fp32 gradients 52 GB, AdamW 12 bytes
// per parameter 156 GB: 234 GB + activations. The slide uses the nominal 13B.
TEST(PlanLecture, Llama2_13BFullFineTuning) {
  PlanInputs in = nominal(13e9, Method::Full);
  in.mixed_precision = true;
  MemoryBreakdown m = lecture_memory(in);
  EXPECT_DOUBLE_EQ(m.bytes_of("weights"), 26 * GB);
  EXPECT_DOUBLE_EQ(m.bytes_of("gradients"), 52 * GB);
  EXPECT_DOUBLE_EQ(m.bytes_of("master weights") + m.bytes_of("optimizer state"), 156 * GB);
  EXPECT_DOUBLE_EQ(m.total(), 234 * GB);

  // The real shape has 13.016B parameters: the same accounting gives 234.3 GB before activations.
  PlanInputs real = in;
  real.model = find_preset("llama-2-13b");
  MemoryBreakdown r = lecture_memory(real);
  const double static_bytes = r.total() - r.bytes_of("activations") - r.bytes_of("logits and loss");
  EXPECT_NEAR(static_bytes / GB, 234.0, 0.5);
  EXPECT_GT(r.bytes_of("activations"), 0);
}

// Slides: LoRA on Llama-2-13B with 0.4% extra parameters: 26.92 GB; QLoRA (4-bit base): 7.42 GB.
// The adapters carry the full-fine-tuning accounting (bf16 value, fp32 gradient, 12 bytes of
// AdamW): 0.4% x 13B x 18 B = 0.936 GB, so 26.936 and 7.436 GB; the slide's 0.92 GB corresponds to
// 0.4% of 230 GB, a rounding on the slide, hence the 0.02 GB tolerance. The slide's 4-bit base is
// 13B x 0.5 B = 6.5 GB with no block scales: Dtype::Int4.
TEST(PlanLecture, Llama2_13BLoraAndQlora) {
  PlanInputs lora = nominal(13e9, Method::Lora);
  lora.mixed_precision = true;
  lora.lora_fraction = 0.004;
  MemoryBreakdown m = lecture_memory(lora);
  EXPECT_DOUBLE_EQ(m.bytes_of("weights"), 26 * GB);
  EXPECT_NEAR(m.total() / GB, 26.92, 0.02);

  PlanInputs qlora = lora;
  qlora.method = Method::Qlora;
  qlora.weights_dtype = Dtype::Int4;
  MemoryBreakdown q = lecture_memory(qlora);
  EXPECT_DOUBLE_EQ(q.bytes_of("weights"), 6.5 * GB);
  EXPECT_NEAR(q.total() / GB, 7.42, 0.02);

  // With real NF4 storage the base costs more than the slide's 4 bits: 4.5 bits per weight, or
  // 4.127 with double quantization (QLoRA paper, section 3).
  qlora.weights_dtype = Dtype::NF4;
  qlora.double_quant = false;
  EXPECT_DOUBLE_EQ(lecture_memory(qlora).bytes_of("weights"), 13e9 * 4.5 / 8);
  qlora.double_quant = true;
  EXPECT_NEAR(lecture_memory(qlora).bytes_of("weights") / GB, 13 * (4 + 8.0 / 64 + 32.0 / (64 * 256)) / 8, 1e-12);
}

// QLoRA paper (Dettmers et al. 2023), section 3, "Double Quantization": blocksize 64 with fp32
// constants costs 32/64 = 0.5 bit per parameter; double quantization 8/64 + 32/(64*256) = 0.127.
TEST(PlanLecture, QuantizedBitsPerWeight) {
  EXPECT_DOUBLE_EQ(dtype_bits(Dtype::NF4, false), 4.5);
  EXPECT_NEAR(dtype_bits(Dtype::NF4, true) - 4, 0.127, 0.0005);
  EXPECT_DOUBLE_EQ(dtype_bits(Dtype::FP4, false), 4.5);
  EXPECT_DOUBLE_EQ(dtype_bits(Dtype::Int4, true), 4);
  EXPECT_DOUBLE_EQ(dtype_bits(Dtype::BF16, true), 16);
}

// Slides: activation formula L((16 Nb + 2) s b h + (2 Nb + 1) a s^2 b).
// Llama-2-7B (L 32, h 4096, a 32) at s=4096, b=1, Nb=2: "about 100 GB". By hand:
// 32 (34 * 4096 * 4096 + 5 * 32 * 4096^2) = 104,152,956,928 B = 104.2 GB = 97.0 GiB.
TEST(PlanLecture, ActivationsLlama2_7BAt4096) {
  const LlamaConfig& c = find_preset("llama-2-7b").config;
  const double a = activation_bytes(c, 4096, 1, 2, false, false);
  EXPECT_DOUBLE_EQ(a, 104152956928.0);
  EXPECT_NEAR(a / GB, 100, 5);
  EXPECT_NEAR(a / GiB, 100, 5);
}

// Slides: Llama-2-13B (L 40, h 5120, a 40) at s=512, b=4, Nb=2: "about 21 GB". By hand:
// 40 (34 * 512 * 4 * 5120 + 5 * 40 * 512^2 * 4) = 22,649,241,600 B: 22.65 GB decimal, and
// 21.09 GiB: the slide's 21 is the binary unit.
TEST(PlanLecture, ActivationsLlama2_13BAt512Batch4) {
  const LlamaConfig& c = find_preset("llama-2-13b").config;
  const double a = activation_bytes(c, 512, 4, 2, false, false);
  EXPECT_DOUBLE_EQ(a, 22649241600.0);
  EXPECT_NEAR(a / GiB, 21.0, 0.15);
}

// The same slide quotes about 5 GB for Llama-2-7B at s=512 (b=1, Nb=2), but its own formula gives
// 32 (34 * 512 * 4096 + 5 * 32 * 512^2) = 3,623,878,656 B = 3.6 GB: we reproduce the formula, not
// the slide's 5 GB.
TEST(PlanLecture, ActivationsLlama2_7BAt512FormulaNotSlide) {
  const LlamaConfig& c = find_preset("llama-2-7b").config;
  const double a = activation_bytes(c, 512, 1, 2, false, false);
  EXPECT_DOUBLE_EQ(a, 3623878656.0);
  EXPECT_NEAR(a / GB, 3.6, 0.05);
}

// Slides: LLaMA 65B in fp32: 260 GB weights, 260 GB gradients, 520 GB AdamW, 250 GB activations at
// batch 1: 1290 GB. Weights, gradients and AdamW use the nominal 65B and are exact. The activation
// formula at the model's 2048 context, b=1, Nb=4 gives 80 (66 * 2048 * 8192 + 9 * 64 * 2048^2) =
// 281.9 GB (262.5 GiB), which the slide rounds to 250 GB: the total is 1321.9 GB, 2.5% over.
TEST(PlanLecture, Llama65BInFp32) {
  PlanInputs in;
  in.model = find_preset("llama-65b");
  in.model.parameters = 65e9;  // the slide's nominal size; the real shape has 65.29B
  in.method = Method::Full;
  in.seq_len = 2048;
  in.micro_batch = 1;
  MemoryBreakdown m = lecture_memory(in);
  EXPECT_DOUBLE_EQ(m.bytes_of("weights"), 260 * GB);
  EXPECT_DOUBLE_EQ(m.bytes_of("gradients"), 260 * GB);
  EXPECT_DOUBLE_EQ(m.bytes_of("optimizer state"), 520 * GB);
  EXPECT_DOUBLE_EQ(m.bytes_of("master weights"), 0);  // fp32 weights are their own master copy
  EXPECT_NEAR(m.bytes_of("activations") / GB, 281.86, 0.01);
  EXPECT_NEAR(m.bytes_of("activations") / GB, 250, 0.15 * 250);
  const double without_logits = m.total() - m.bytes_of("logits and loss");
  EXPECT_NEAR(without_logits / GB, 1290, 0.03 * 1290);
}

// ZeRO paper (Rajbhandari et al. 2020), Figure 1: 7.5B parameters, K = 12 bytes of optimizer state,
// 64 data-parallel ranks: baseline 120 GB, P_os 31.4 GB, P_os+g 16.6 GB, P_os+g+p 1.9 GB per rank.
TEST(PlanLecture, ZeroStagesPaperFigure1) {
  PlanInputs in = nominal(7.5e9, Method::Full);
  in.mixed_precision = true;
  in.gradient_dtype = Dtype::F16;
  in.ranks = 64;
  const double expected[] = {120, 31.4, 16.6, 1.9};
  for (int stage = 0; stage <= 3; ++stage) {
    in.zero_stage = stage;
    EXPECT_NEAR(lecture_memory(in).total() / GB, expected[stage], 0.06) << "stage " << stage;
  }
}

// vLLM paper (Kwon et al. 2023), section 3: "the KV cache of a single token demands 800 KB of
// space, calculated as 2 (key and value vectors) x 5120 (hidden state size) x 40 (number of layers)
// x 2 (bytes per FP16)" for OPT-13B, whose attention shape Llama-2-13B shares.
TEST(PlanLecture, KvCachePerToken) {
  const LlamaConfig& c = find_preset("llama-2-13b").config;
  EXPECT_DOUBLE_EQ(kv_cache_bytes(c, 1, 1, 2), 2.0 * 5120 * 40 * 2);
  // Grouped-query attention shrinks it by H / KVH: Llama-2-70B keeps 8 of 64 heads.
  const LlamaConfig& big = find_preset("llama-2-70b").config;
  EXPECT_DOUBLE_EQ(kv_cache_bytes(big, 1, 1, 2), 2.0 * 8 * 128 * 80 * 2);
}

// Gradient checkpointing keeps the block inputs (L s b h Nb) plus one block being recomputed;
// memory-efficient attention drops the (2 Nb + 1) a s^2 b term for a 4 a s b log-sum-exp.
TEST(PlanLecture, ActivationSavings) {
  const LlamaConfig& c = find_preset("llama-2-7b").config;
  const double block = 34.0 * 4096 * 4096 + 5.0 * 32 * 4096 * 4096;
  EXPECT_DOUBLE_EQ(activation_bytes(c, 4096, 1, 2, true, false), 32.0 * 4096 * 4096 * 2 + block);
  EXPECT_DOUBLE_EQ(activation_bytes(c, 4096, 1, 2, false, true), 32.0 * (34.0 * 4096 * 4096 + 4.0 * 32 * 4096));
}

TEST(PlanLecture, OptimizerStatePerParameter) {
  EXPECT_DOUBLE_EQ(optimizer_state_bytes_per_parameter(Optimizer::AdamW), 8);
  EXPECT_NEAR(optimizer_state_bytes_per_parameter(Optimizer::AdamW8bit), 2, 0.01);
  EXPECT_DOUBLE_EQ(optimizer_state_bytes_per_parameter(Optimizer::Sgd), 0);
  EXPECT_DOUBLE_EQ(optimizer_state_bytes_per_parameter(Optimizer::SgdMomentum), 4);
}

TEST(PlanLecture, RejectsInconsistentInputs) {
  PlanInputs in = nominal(1e9, Method::Full);
  in.weights_dtype = Dtype::NF4;
  EXPECT_THROW(plan_memory(in), Error);
  in = nominal(1e9, Method::Lora);  // a bare size cannot count LoRA parameters from a rank
  EXPECT_THROW(plan_memory(in), Error);
  in.lora_fraction = 0.01;
  EXPECT_NO_THROW(plan_memory(in));
  in.zero_stage = 4;
  EXPECT_THROW(plan_memory(in), Error);
}

}  // namespace
}  // namespace frugal
