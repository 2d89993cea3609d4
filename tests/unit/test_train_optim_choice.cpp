// Training with each optimizer on the real stories260K model (LoRA): the loss falls, the checkpoint holds
// the optimizer's own state (8-bit codes and block scales for adamw_8bit, the momentum buffer for SGD), and
// a run resumed from it continues exactly. The optimizers' arithmetic is checked against bitsandbytes and
// torch in test_train_optimizer_8bit.cpp; this is the plumbing around it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "format/safetensors.h"
#include "io/peft_adapter.h"
#include "model/model.h"
#include "data_parallel_util.h"
#include "run_frugal.h"
#include "train/train_plan.h"
#include "train/trainer.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

std::string make_dataset(const std::string& name) {
  const std::string path = std::string(::testing::TempDir()) + "frugal_optim_" + name + ".jsonl";
  std::ofstream out(path);
  const char* lines[] = {"Lily saw a big red ball in the park.", "Tom had a little dog named Max.",
                         "The sun was warm and the sky was blue.", "She wanted to play with her mom."};
  for (int i = 0; i < 32; ++i) out << nlohmann::json{{"text", lines[i % 4]}}.dump() << "\n";
  return path;
}

TrainConfig config(const std::string& name, const std::string& optim) {
  TrainConfig c;
  c.base_model = test::data_file("stories260K/stories260K.bin");
  c.tokenizer = test::data_file("stories260K/tok512.bin");
  c.dataset = make_dataset(name);
  c.output_dir = std::string(::testing::TempDir()) + "frugal_optim_out_" + name;
  fs::remove_all(c.output_dir);
  c.optim = optim;
  // r = 32 on every projection: the MLP's adapters ([32, 172] and [172, 32] = 5504 values) reach
  // bitsandbytes' min_8bit_size, so adamw_8bit keeps their moments in 8 bits (with a partial last block);
  // the attention's ([32, 64] = 2048) keep fp32 moments.
  c.lora_r = 32;
  c.lora_alpha = 32;
  c.lora_target_modules = "all-linear";
  c.lora_dropout = 0.1;  // dropout masks continue identically too
  c.learning_rate = optim == "sgd" ? 0.5 : 5e-3;
  c.weight_decay = 0.01;
  c.lr_scheduler = "constant";
  c.micro_batch_size = 4;
  c.max_steps = 6;
  c.save_steps = 3;
  c.bf16 = false;
  c.logging_steps = 1;
  return c;
}

// Runs 6 steps saving at 3, then again from checkpoint-3 in a fresh folder: the same losses and adapter.
void trains_and_resumes(TrainConfig full, const std::map<std::string, SafeDtype>& expected_arrays) {
  const TrainReport first = run_training(full);
  EXPECT_LT(first.last_loss, first.first_loss) << full.optim;
  const SafetensorsFile st(full.output_dir + "/checkpoint-3/trainable.safetensors");
  EXPECT_EQ(st.tensors().size(), expected_arrays.size());
  for (const auto& [name, dtype] : expected_arrays) {
    const SafetensorsTensor* t = st.find(name);
    ASSERT_TRUE(t) << full.optim << ": no " << name;
    EXPECT_EQ(t->dtype, dtype) << name;
    EXPECT_GT(t->numel(), 0) << name;
  }
  TrainConfig resumed = full;
  resumed.output_dir = full.output_dir + "_part";
  fs::remove_all(resumed.output_dir);
  fs::create_directories(resumed.output_dir);
  fs::copy(full.output_dir + "/checkpoint-3", resumed.output_dir + "/checkpoint-3", fs::copy_options::recursive);
  resumed.resume_from_checkpoint = "latest";
  EXPECT_EQ(run_training(resumed).steps, 6);
  const std::vector<double> a = test::step_losses(full.output_dir), b = test::step_losses(resumed.output_dir);
  ASSERT_EQ(a.size(), 6u);
  ASSERT_EQ(b.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(b[i], a[i + 3]) << full.optim << " step " << i + 4;
  auto model = load_model(full.base_model, full.tokenizer);
  EXPECT_EQ(read_peft_adapter(full.output_dir + "/adapter", model->config).values,
            read_peft_adapter(resumed.output_dir + "/adapter", model->config).values)
      << full.optim;
}

TEST(TrainOptim, AdamW8bitTrainsCheckpointsAndResumes) {
  trains_and_resumes(config("adam8", "adamw_8bit"), {{"values", SafeDtype::F32},
                                                     {"state1", SafeDtype::U8},
                                                     {"state2", SafeDtype::U8},
                                                     {"absmax1", SafeDtype::F32},
                                                     {"absmax2", SafeDtype::F32},
                                                     {"exp_avg", SafeDtype::F32},
                                                     {"exp_avg_sq", SafeDtype::F32}});
}

TEST(TrainOptim, SgdWithMomentumTrainsCheckpointsAndResumes) {
  TrainConfig c = config("sgdm", "sgd");
  c.momentum = 0.9;
  trains_and_resumes(c, {{"values", SafeDtype::F32}, {"momentum_buffer", SafeDtype::F32}});
}

TEST(TrainOptim, PlainSgdKeepsNoState) {
  trains_and_resumes(config("sgd", "sgd"), {{"values", SafeDtype::F32}});
}

// The state of another optimizer is refused by name, not misread.
TEST(TrainOptim, ResumingWithAnotherOptimizerFailsClearly) {
  TrainConfig c = config("switch", "sgd");
  c.momentum = 0.9;
  c.max_steps = 3;
  run_training(c);
  c.optim = "adamw_8bit";
  c.momentum = 0;
  c.resume_from_checkpoint = "latest";
  try {
    run_training(c);
    FAIL() << "resumed sgd state into adamw_8bit";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("optim"), std::string::npos) << e.what();
  }
}

// Paged state (file-backed, may be paged out) changes where the moments live, not their values: the same
// losses and adapter as the unpaged run, bit for bit, and no file left in the output folder.
void paged_equals_unpaged(const std::string& optim) {
  TrainConfig plain = config("unpaged_" + optim, optim);
  plain.save_steps = 0;
  TrainConfig paged = config("paged_" + optim, "paged_" + optim);
  paged.save_steps = 0;
  run_training(plain);
  run_training(paged);
  const std::vector<double> a = test::step_losses(plain.output_dir), b = test::step_losses(paged.output_dir);
  ASSERT_EQ(a.size(), 6u);
  EXPECT_EQ(a, b) << optim;
  auto model = load_model(plain.base_model, plain.tokenizer);
  EXPECT_EQ(read_peft_adapter(plain.output_dir + "/adapter", model->config).values,
            read_peft_adapter(paged.output_dir + "/adapter", model->config).values);
  std::vector<std::string> plain_files, paged_files;
  for (const auto& e : fs::directory_iterator(plain.output_dir)) plain_files.push_back(e.path().filename());
  for (const auto& e : fs::directory_iterator(paged.output_dir)) paged_files.push_back(e.path().filename());
  std::sort(plain_files.begin(), plain_files.end());
  std::sort(paged_files.begin(), paged_files.end());
  EXPECT_EQ(plain_files, paged_files);
}

TEST(TrainOptim, PagedAdamW8bitEqualsUnpaged) { paged_equals_unpaged("adamw_8bit"); }
// adamw_torch's paged twin is spelled as transformers spells it.
TEST(TrainOptim, PagedAdamW32bitEqualsUnpaged) {
  TrainConfig plain = config("unpaged32", "adamw_torch");
  TrainConfig paged = config("paged32", "paged_adamw_32bit");
  plain.save_steps = paged.save_steps = 0;
  run_training(plain);
  run_training(paged);
  EXPECT_EQ(test::step_losses(plain.output_dir), test::step_losses(paged.output_dir));
}

TEST(TrainOptim, MomentumWithoutSgdIsAConfigError) {
  TrainConfig c = config("badmomentum", "adamw_torch");
  c.momentum = 0.9;
  EXPECT_THROW(run_training(c), Error);
}

}  // namespace
}  // namespace frugal
