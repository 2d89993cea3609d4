// The plan of a `frugal train` run: the training config mapped onto the planner's inputs (one
// function, no second option parser), the largest micro-batch the data really produces, `frugal
// train --plan-only` against `frugal plan` for the same run, and the self-check a real run writes
// into its summary (planned vs measured peak RSS and tokens/s).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/precision.h"
#include "plan/frugal_runtime.h"
#include "plan/plan_format.h"
#include "model/lora.h"
#include "parallel/communicator.h"
#include "train/optimizer_choice.h"
#include "train/sharded_trainables.h"
#include "train/train_plan.h"
#include "run_frugal.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

const std::string kStories = test::data_file("stories260K/stories260K.bin");
const std::string kTok = test::data_file("stories260K/tok512.bin");

TrainConfig stories_config() {
  TrainConfig c;
  c.base_model = kStories;
  c.tokenizer = kTok;
  c.dataset = "unused.jsonl";
  return c;
}

TEST(PlanTrain, InputsFollowTheTrainingConfig) {
  TrainConfig c = stories_config();
  c.lora_r = 4;
  c.lora_target_modules = "q_proj,v_proj";
  c.micro_batch_size = 3;
  c.sequence_len = 200;
  c.gradient_accumulation_steps = 2;
  c.gradient_checkpointing = true;
  c.bf16 = true;
  const ModelShape shape = model_shape_from_file(c.base_model, c.tokenizer);
  EXPECT_EQ(shape.config.n_layers, 5);
  EXPECT_EQ(shape.config.dim, 64);
  PlanInputs in = plan_inputs_from_train_config(c, shape);
  EXPECT_EQ(in.profile, Profile::Frugal);
  EXPECT_EQ(in.method, Method::Lora);
  EXPECT_EQ(in.lora_r, 4);
  EXPECT_EQ(in.lora_targets, (std::vector<WeightRole>{WeightRole::Wq, WeightRole::Wv}));
  EXPECT_EQ(in.micro_batch, 3);
  EXPECT_EQ(in.seq_len, 200);
  EXPECT_EQ(in.grad_accum, 2);
  EXPECT_TRUE(in.gradient_checkpointing);
  EXPECT_EQ(in.mixed_precision, cpu_has_native_bf16());  // as run_training picks its matmul precision
  EXPECT_EQ(in.optimizer, Optimizer::AdamW);
  EXPECT_DOUBLE_EQ(in.source_file_bytes, static_cast<double>(fs::file_size(kStories)));
  // The adapter the trainer would build: 5 layers x r(in + out) for q (64 -> 64) and v (64 -> 32).
  EXPECT_DOUBLE_EQ(in.trainable_parameters(), 5 * 4 * ((64 + 64) + (64 + 32)));

  c.method = "full";
  c.bf16 = false;
  in = plan_inputs_from_train_config(c, shape, Profile::Lecture);
  EXPECT_EQ(in.method, Method::Full);
  EXPECT_FALSE(in.mixed_precision);
  EXPECT_EQ(in.profile, Profile::Lecture);
  EXPECT_EQ(in.source_file_bytes, 0);
  EXPECT_DOUBLE_EQ(in.trainable_parameters(), shape.parameters);
}

std::vector<Example> examples_of_lengths(const std::vector<int>& lengths) {
  std::vector<Example> out;
  for (int n : lengths) out.push_back({std::vector<int32_t>(n, 7), std::vector<int32_t>(n, 7)});
  return out;
}

TEST(PlanTrain, LargestBatchIsWhatTheDataProduces) {
  const std::vector<Example> train = examples_of_lengths({5, 9, 3, 7, 2});
  BatchingOptions o;
  o.sequence_len = 10;
  o.micro_batch_size = 2;
  // Dynamic padding: full micro-batches, padded to the longest example.
  BatchShape s = largest_batch_shape(train, {}, o);
  EXPECT_EQ(s.rows, 2);
  EXPECT_EQ(s.tokens_per_row, 9);
  o.micro_batch_size = 8;  // fewer examples than a micro-batch holds
  s = largest_batch_shape(train, {}, o);
  EXPECT_EQ(s.rows, 5);
  // Validation runs through the same buffers: its longer example counts.
  s = largest_batch_shape(train, examples_of_lengths({10}), o);
  EXPECT_EQ(s.tokens_per_row, 10);
  // Packing: rows of sequence_len; best-fit decreasing packs these 26 tokens into 3 rows of 10.
  o.sample_packing = true;
  o.micro_batch_size = 4;
  s = largest_batch_shape(train, {}, o);
  EXPECT_EQ(s.rows, 3);
  EXPECT_EQ(s.tokens_per_row, 10);
}

// A JSONL text dataset whose records are longer than `sequence_len` tokens, so packed rows are full.
std::string long_rows_dataset(const std::string& name, int records) {
  const std::string path = std::string(::testing::TempDir()) + "frugal_plan_train_" + name + ".jsonl";
  std::ofstream out(path);
  std::string text;
  for (int i = 0; i < 60; ++i) text += "Once upon a time a little girl named Lily found a shiny red ball in the park. ";
  for (int i = 0; i < records; ++i) out << nlohmann::json{{"text", text}}.dump() << "\n";
  return path;
}

double plan_total(const nlohmann::json& j) {
  return j["memory"]["total_bytes"].get<double>();
}

TEST(PlanTrain, PlanOnlyPrintsThePlanOfTheRunAndTrainsNothing) {
  const std::string out_dir = std::string(::testing::TempDir()) + "frugal_plan_only_out";
  fs::remove_all(out_dir);
  const std::string args = " --lora_r 4 --micro_batch_size 4 --sequence_len 256 --bf16 false";
  test::RunResult r =
      test::run_frugal("train --base_model " + kStories + " --tokenizer " + kTok +
                       " --dataset does-not-matter.jsonl --output_dir " + out_dir + args + " --plan-only");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(out_dir));
  for (const char* text : {"nothing is trained", "micro-batch 4 x 256 tokens", "profile   frugal", "weights",
                           "activations", "checkpoint and export", "decision tree", "throughput", "lecture profile"})
    EXPECT_NE(r.out.find(text), std::string::npos) << text << "\n" << r.out;

  // `frugal plan` given the same run by hand reaches the same total.
  test::RunResult p = test::run_frugal("plan -m " + kStories + " --tokenizer " + kTok +
                                       " --profile frugal --lora-r 4 --micro-batch 4 --seq-len 256 --json");
  ASSERT_EQ(p.exit_code, 0) << p.err;
  char total_line[64];
  std::snprintf(total_line, sizeof total_line, "%-22s %12s\n", "total",
                gb_str(plan_total(nlohmann::json::parse(p.out))).c_str());
  EXPECT_NE(r.out.find(total_line), std::string::npos) << total_line << r.out;
}

// Past the model's trained context the plan says what would stretch it; with rope_scaling it plans
// for the stretched context and says so.
TEST(PlanTrain, PlanOnlySaysWhatStretchesTheContext) {
  const std::string base = "train --base_model " + kStories + " --tokenizer " + kTok +
                           " --dataset does-not-matter.jsonl --lora_r 4 --sequence_len 2048 --bf16 false --plan-only";
  test::RunResult r = test::run_frugal(base);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sequence_len 2048 is past the 512 tokens the model was trained for, and nothing stretches "
                       "its positions: rope_scaling: {type: linear, factor: 4} would"),
            std::string::npos)
      << r.out;
  r = test::run_frugal(base + " --rope_scaling.type linear --rope_scaling.factor 4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("rope_scaling linear x4: the model is trained for 2048 tokens"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("is past the"), std::string::npos) << r.out;
}

// A real run records the plan next to its measurements. On stories260K the process' fixed overhead
// is half the peak, so this checks the bookkeeping and that overhead more than the buffer model
// (tests/model/test_plan_train_run.cpp checks that on SmolLM2-135M).
TEST(PlanTrain, TrainSummaryHasThePlanNextToTheMeasurements) {
  const std::string out_dir = std::string(::testing::TempDir()) + "frugal_plan_selfcheck_out";
  fs::remove_all(out_dir);
  test::RunResult r = test::run_frugal("train --base_model " + kStories + " --tokenizer " + kTok + " --dataset " +
                                       long_rows_dataset("stories", 8) + " --output_dir " + out_dir +
                                       " --sample_packing true --sequence_len 256 --micro_batch_size 2 --max_steps 2"
                                       " --lora_r 4 --bf16 false");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("(planned "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("longest micro-batch of the data, 2 x 256 tokens"), std::string::npos) << r.out;
  const nlohmann::json j = nlohmann::json::parse(test::read_file(out_dir + "/summary.json"));
  ASSERT_TRUE(j.contains("plan")) << j.dump(2);
  const nlohmann::json& plan = j["plan"];
  EXPECT_EQ(plan["micro_batch"], 2);
  EXPECT_EQ(plan["seq_len"], 256);
  const double planned = plan["peak_rss_bytes"], measured = j["peak_rss_bytes"];
  EXPECT_GT(planned, 0);
  EXPECT_GT(plan["tokens_per_second"].get<double>(), 0);
  EXPECT_NEAR(plan["peak_rss_error_percent"].get<double>(), 100 * (measured - planned) / planned, 1e-6);
#if !defined(FRUGAL_SANITIZED_MEMORY)  // sanitizers' shadow memory and quarantine are not frugal's
  EXPECT_NEAR(measured / planned, 1.0, 0.10) << "measured " << measured / 1e6 << " MB, planned " << planned / 1e6;
#endif
}

}  // namespace
}  // namespace frugal

namespace frugal {
namespace {

// `optim` reaches the planner as its own names, and the frugal profile's "optimizer state" item is what
// the trainer allocates for it: adamw_8bit's per-tensor codes and block scales (fp32 moments for the
// tensors under min_8bit_size), SGD's momentum buffer or nothing.
TEST(PlanTrain, OptimizerStateItemIsWhatTheTrainerAllocates) {
  const ModelShape shape = model_shape_from_file(kStories, kTok);
  const struct {
    const char* optim;
    double momentum;
    Optimizer planned;
  } cases[] = {{"adamw_torch", 0, Optimizer::AdamW},
               {"adamw_8bit", 0, Optimizer::AdamW8bit},
               {"paged_adamw_8bit", 0, Optimizer::AdamW8bit},
               {"sgd", 0.9, Optimizer::SgdMomentum},
               {"sgd", 0, Optimizer::Sgd}};
  for (const auto& k : cases) {
    TrainConfig c = stories_config();
    c.optim = k.optim;
    c.momentum = k.momentum;
    c.lora_r = 32;  // the MLP's adapters reach min_8bit_size, the attention's do not
    c.lora_target_modules = "all-linear";
    const PlanInputs in = plan_inputs_from_train_config(c, shape);
    EXPECT_EQ(in.optimizer, k.planned) << k.optim;
    double planned = -1;
    for (const MemoryItem& item : frugal_runtime_memory(in).items)
      if (item.name == "optimizer state") planned = item.bytes;
    // The trainer's state for the same adapter.
    LoraConfig lc;
    lc.r = c.lora_r;
    lc.targets = parse_lora_targets(c.lora_target_modules);
    LoraAdapter lora = LoraAdapter::create(shape.config, lc);
    std::vector<float> grads(lora.values.size());
    std::vector<TrainableTensor> tensors;
    for (const LoraLayer& l : lora.layers)
      for (auto [offset, count] : {std::pair{l.a_offset, static_cast<size_t>(lc.r * l.in)},
                                   std::pair{l.b_offset, static_cast<size_t>(l.out * lc.r)}})
        tensors.push_back({lora.values.data() + offset, grads.data() + offset, count});
    auto comm = make_single_process_communicator();
    ShardedTrainables trainables(tensors, *comm, 0, false, optimizer_choice(c.optim, c.momentum, "/tmp"));
    EXPECT_DOUBLE_EQ(planned, static_cast<double>(trainables.optimizer_state_bytes())) << k.optim;
  }
}

}  // namespace
}  // namespace frugal
