// End-to-end training runs on the real stories260K model (fast): the loss falls, the artifacts
// reload, gradient accumulation equals a big batch, and a resumed run continues identically.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/gguf_lora.h"
#include "io/peft_adapter.h"
#include "model/model.h"
#include "data_parallel_util.h"
#include "run_frugal.h"
#include "train/trainer.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

// A text dataset of short stories-like lines the model has a chance to learn quickly.
std::string make_dataset(const std::string& name, int records) {
  const std::string path = std::string(::testing::TempDir()) + "frugal_trainer_" + name + ".jsonl";
  std::ofstream out(path);
  const char* lines[] = {"Lily saw a big red ball in the park.", "Tom had a little dog named Max.",
                         "The sun was warm and the sky was blue.", "She wanted to play with her mom."};
  for (int i = 0; i < records; ++i) out << nlohmann::json{{"text", lines[i % 4]}}.dump() << "\n";
  return path;
}

TrainConfig base_config(const std::string& name) {
  TrainConfig c;
  c.base_model = test::data_file("stories260K/stories260K.bin");
  c.tokenizer = test::data_file("stories260K/tok512.bin");
  c.dataset = make_dataset(name, 32);
  c.output_dir = std::string(::testing::TempDir()) + "frugal_trainer_out_" + name;
  fs::remove_all(c.output_dir);
  c.lora_r = 4;
  c.lora_alpha = 8;
  c.learning_rate = 5e-3;
  c.lr_scheduler = "constant";
  c.micro_batch_size = 4;
  c.max_steps = 6;
  c.bf16 = false;
  c.logging_steps = 1;
  return c;
}

TEST(Trainer, LossFallsAndArtifactsReload) {
  TrainConfig c = base_config("falls");
  c.val_set_size = 8;
  c.max_steps = 12;
  const TrainReport r = run_training(c);
  EXPECT_EQ(r.steps, 12);
  EXPECT_GT(r.eval_loss_before, 0);
  EXPECT_LT(r.eval_loss_after, r.eval_loss_before * 0.9) << r.summary_text;
  for (const char* f : {"adapter/adapter_config.json", "adapter/adapter_model.safetensors", "adapter.gguf", "loss.svg",
                        "metrics.jsonl", "summary.json", "config.yaml", "latest"})
    EXPECT_TRUE(fs::exists(c.output_dir + "/" + f)) << f;
  // MFU in the summary and on every metrics line: the model's FLOPs over a peak measured at the start.
  const auto summary = nlohmann::json::parse(std::ifstream(c.output_dir + "/summary.json"));
  EXPECT_GT(summary["peak_flops_per_second"].get<double>(), 0);
  EXPECT_GT(summary["flops_per_second"].get<double>(), 0);
  EXPECT_DOUBLE_EQ(summary["mfu"].get<double>(),
                   summary["flops_per_second"].get<double>() / summary["peak_flops_per_second"].get<double>());
  std::ifstream metrics(c.output_dir + "/metrics.jsonl");
  for (std::string line; std::getline(metrics, line);)
    EXPECT_GT(nlohmann::json::parse(line)["mfu"].get<double>(), 0) << line;
  // The PEFT folder and the GGUF LoRA file hold the same adapter (GGUF rows permuted back on read).
  auto model = load_model(c.base_model, c.tokenizer);
  LoraAdapter peft = read_peft_adapter(c.output_dir + "/adapter", model->config);
  LoraAdapter gguf = read_gguf_lora(c.output_dir + "/adapter.gguf", model->config);
  ASSERT_EQ(peft.values.size(), gguf.values.size());
  EXPECT_EQ(peft.values, gguf.values);
  EXPECT_FLOAT_EQ(peft.config.scaling(), gguf.config.scaling());
  // And the CLI applies it: perplexity on the training text drops with the adapter.
  const std::string text_path = std::string(::testing::TempDir()) + "frugal_trainer_text.txt";
  std::ofstream(text_path) << "Lily saw a big red ball in the park. Tom had a little dog named Max.";
  const std::string args = "perplexity -m " + c.base_model + " --tokenizer " + c.tokenizer + " -f " + text_path +
                           " --add-bos --dtype f32 --json";
  test::RunResult base = test::run_frugal(args);
  test::RunResult adapted = test::run_frugal(args + " --adapter " + c.output_dir + "/adapter");
  ASSERT_EQ(base.exit_code, 0) << base.err;
  ASSERT_EQ(adapted.exit_code, 0) << adapted.err;
  EXPECT_LT(nlohmann::json::parse(adapted.out)["perplexity"].get<double>(),
            nlohmann::json::parse(base.out)["perplexity"].get<double>());
}

TEST(Trainer, GradientAccumulationEqualsTheBigBatch) {
  TrainConfig big = base_config("ga_big");
  big.max_steps = 3;
  TrainConfig acc = base_config("ga_acc");
  acc.dataset = big.dataset;
  acc.max_steps = 3;
  acc.micro_batch_size = 1;
  acc.gradient_accumulation_steps = 4;
  run_training(big);
  run_training(acc);
  const std::vector<double> a = test::step_losses(big.output_dir), b = test::step_losses(acc.output_dir);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5 * std::abs(a[i])) << "step " << i + 1;
  auto model = load_model(big.base_model, big.tokenizer);
  LoraAdapter x = read_peft_adapter(big.output_dir + "/adapter", model->config);
  LoraAdapter y = read_peft_adapter(acc.output_dir + "/adapter", model->config);
  double max_diff = 0;
  for (size_t i = 0; i < x.values.size(); ++i) max_diff = std::max<double>(max_diff, std::abs(x.values[i] - y.values[i]));
  // Adam divides by sqrt(v): for entries whose gradient is near zero, summation-order noise in the
  // gradient becomes a visible fraction of a step. 1% of one step's size (lr) bounds it; measured
  // 2.5e-5 here, while the logged losses agree to 1e-5 relative.
  EXPECT_LT(max_diff, 0.01 * big.learning_rate);
}

TEST(Trainer, ResumedRunContinuesExactly) {
  TrainConfig full = base_config("resume_full");
  full.save_steps = 3;
  full.lora_dropout = 0.1;  // dropout masks must continue identically too
  run_training(full);
  // What an interruption after step 3 leaves: the checkpoint of step 3.
  TrainConfig resumed = full;
  resumed.output_dir = std::string(::testing::TempDir()) + "frugal_trainer_out_resume_part";
  fs::remove_all(resumed.output_dir);
  fs::create_directories(resumed.output_dir);
  fs::copy(full.output_dir + "/checkpoint-3", resumed.output_dir + "/checkpoint-3", fs::copy_options::recursive);
  resumed.resume_from_checkpoint = resumed.output_dir + "/checkpoint-3";
  const TrainReport r = run_training(resumed);
  EXPECT_EQ(r.steps, 6);
  const std::vector<double> a = test::step_losses(full.output_dir), b = test::step_losses(resumed.output_dir);
  ASSERT_EQ(a.size(), 6u);
  ASSERT_EQ(b.size(), 3u);  // steps 4..6
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(b[i], a[i + 3], 1e-6 * std::abs(a[i + 3])) << "step " << i + 4;
  auto model = load_model(full.base_model, full.tokenizer);
  EXPECT_EQ(read_peft_adapter(full.output_dir + "/adapter", model->config).values,
            read_peft_adapter(resumed.output_dir + "/adapter", model->config).values);
}

TEST(Trainer, MergedModelEqualsBasePlusAdapterAndTrainingContinuesFromIt) {
  TrainConfig c = base_config("merge");
  run_training(c);
  const std::string text_path = std::string(::testing::TempDir()) + "frugal_trainer_merge.txt";
  std::ofstream(text_path) << "Tom had a little dog named Max. The sun was warm.";
  const std::string merged = c.output_dir + "/merged.gguf";
  test::RunResult m = test::run_frugal("merge -m " + c.base_model + " --tokenizer " + c.tokenizer + " --adapter " +
                                       c.output_dir + "/adapter -o " + merged + " --dtype f32");
  ASSERT_EQ(m.exit_code, 0) << m.err;
  const std::string ppl = " -f " + text_path + " --add-bos --dtype f32 --json";
  test::RunResult with_adapter = test::run_frugal("perplexity -m " + c.base_model + " --tokenizer " + c.tokenizer +
                                                  " --adapter " + c.output_dir + "/adapter.gguf" + ppl);
  test::RunResult from_merged = test::run_frugal("perplexity -m " + merged + ppl);
  ASSERT_EQ(with_adapter.exit_code, 0) << with_adapter.err;
  ASSERT_EQ(from_merged.exit_code, 0) << from_merged.err;
  EXPECT_NEAR(nlohmann::json::parse(with_adapter.out)["perplexity"].get<double>(),
              nlohmann::json::parse(from_merged.out)["perplexity"].get<double>(), 1e-4);
  // Continue training from the PEFT folder: the first loss is where the previous run ended.
  TrainConfig next = base_config("merge_continue");
  next.dataset = c.dataset;
  next.init_adapter = c.output_dir + "/adapter";
  next.max_steps = 1;
  const TrainReport first = run_training(next);
  TrainConfig fresh = base_config("merge_fresh");
  fresh.dataset = c.dataset;
  fresh.max_steps = 1;
  EXPECT_LT(first.first_loss, run_training(fresh).first_loss * 0.8);
}

// rope_scaling stretches the positions for training, and the stretch travels with what training
// makes: both adapter files, the merged model (GGUF and Hugging Face), and a run continuing from the adapter.
TEST(Trainer, RopeScalingTravelsWithTheAdapterAndTheMergedModel) {
  TrainConfig c = base_config("rope");
  c.max_steps = 2;
  c.rope_scaling_type = "linear";
  c.rope_scaling_factor = 2;
  const TrainReport r = run_training(c);
  TrainConfig plain = base_config("rope_plain");
  plain.dataset = c.dataset;
  plain.max_steps = 1;
  EXPECT_NE(r.first_loss, run_training(plain).first_loss);  // interpolated positions: another model
  EXPECT_NE(test::read_file(c.output_dir + "/config.yaml").find("rope_scaling:\n  type: linear\n  factor: 2.0\n"),
            std::string::npos);

  const std::string model = " -m " + c.base_model + " --tokenizer " + c.tokenizer;
  const std::string merged_gguf = c.output_dir + "/merged.gguf", merged_hf = c.output_dir + "/merged_hf";
  for (const std::string& out : {merged_gguf, merged_hf}) {
    test::RunResult m = test::run_frugal("merge" + model + " --adapter " + c.output_dir + "/adapter -o " + out + " --dtype f32");
    ASSERT_EQ(m.exit_code, 0) << m.err;
  }
  const nlohmann::json hf = nlohmann::json::parse(test::read_file(merged_hf + "/config.json"));
  EXPECT_EQ(hf["rope_scaling"]["rope_type"], "linear");
  EXPECT_EQ(hf["rope_scaling"]["factor"], 2.0);
  EXPECT_EQ(hf["max_position_embeddings"], 1024);  // stories260K's 512, stretched

  const std::string text_path = std::string(::testing::TempDir()) + "frugal_trainer_rope.txt";
  std::ofstream(text_path) << "Tom had a little dog named Max. The sun was warm.";
  const std::string ppl = " -f " + text_path + " --add-bos --dtype f32 --json";
  const auto perplexity = [&](const std::string& args) {
    test::RunResult p = test::run_frugal("perplexity" + args + ppl);
    EXPECT_EQ(p.exit_code, 0) << p.err;
    return p.exit_code == 0 ? nlohmann::json::parse(p.out)["perplexity"].get<double>() : -1.0;
  };
  const double with_peft = perplexity(model + " --adapter " + c.output_dir + "/adapter");
  EXPECT_NEAR(perplexity(model + " --adapter " + c.output_dir + "/adapter.gguf"), with_peft, 1e-4);
  EXPECT_NEAR(perplexity(" -m " + merged_gguf), with_peft, 1e-4);

  // Continuing from the adapter keeps its stretch; asking for another one is refused in one line.
  TrainConfig next = base_config("rope_continue");
  next.dataset = c.dataset;
  next.init_adapter = c.output_dir + "/adapter";
  next.max_steps = 1;
  run_training(next);
  EXPECT_EQ(read_peft_adapter(next.output_dir + "/adapter", load_model(c.base_model, c.tokenizer)->config)
                .context_extension,
            (ContextExtension{RopeType::Linear, 2.0, 512}));
  next.rope_scaling_type = "yarn";
  next.rope_scaling_factor = 4;
  try {
    run_training(next);
    ADD_FAILURE() << "a second stretch was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rope_scaling: the adapter was trained with linear x2 from 512, the config asks for yarn x4 from 512"),
              std::string::npos)
        << e.what();
  }
}

TEST(Trainer, FullFineTuningTrainsEveryWeightAndExportsAModel) {
  TrainConfig c = base_config("full");
  c.method = "full";
  c.learning_rate = 1e-3;
  c.val_set_size = 8;
  const TrainReport r = run_training(c);
  EXPECT_EQ(r.trainable_parameters, load_model(c.base_model, c.tokenizer)->config.parameter_count());
  EXPECT_LT(r.eval_loss_after, r.eval_loss_before);
  auto exported = load_model(c.output_dir + "/model");  // HF folder with weights and tokenizer
  EXPECT_EQ(exported->config.dim, 64);
}

// "loss" means one thing: the progress line and metrics.jsonl show the same number at every logged
// step (the mean per target token since the previous logged step), and "step_loss" is the step's own.
TEST(Trainer, ProgressLineAndMetricsReportTheSameLoss) {
  const std::string data = make_dataset("same_loss", 32);  // lines of different lengths: steps differ in targets
  auto train = [&](const std::string& name, int logging_steps) {
    const std::string out = std::string(::testing::TempDir()) + "frugal_trainer_out_" + name;
    fs::remove_all(out);
    test::RunResult r = test::run_frugal(
        "train --base_model " + test::data_file("stories260K/stories260K.bin") + " --tokenizer " +
        test::data_file("stories260K/tok512.bin") + " --dataset " + data + " --output_dir " + out +
        " --lora_r 4 --lora_alpha 8 --learning_rate 5e-3 --lr_scheduler constant --micro_batch_size 3 --max_steps 6"
        " --bf16 false --logging_steps " + std::to_string(logging_steps));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<nlohmann::json> lines;
    std::ifstream in(out + "/metrics.jsonl");
    for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
    return std::make_pair(r.err, lines);
  };
  const auto [progress, logged] = train("same_loss_every3", 3);
  const std::vector<nlohmann::json> every_step = train("same_loss_every1", 1).second;
  ASSERT_EQ(logged.size(), 2u);  // steps 3 and 6
  ASSERT_EQ(every_step.size(), 6u);

  for (const nlohmann::json& j : logged) {
    const int64_t step = j["step"];
    // That step's plain progress line (stderr is no terminal here): "step 3/6 (50%) loss 3.1234 lr ...".
    const std::string head = "step " + std::to_string(step) + "/6 (";
    const size_t at = progress.find(head);
    ASSERT_NE(at, std::string::npos) << progress;
    const std::string line = progress.substr(at, progress.find('\n', at) - at);
    char expected[32];
    std::snprintf(expected, sizeof expected, " loss %.4f ", j["loss"].get<double>());
    EXPECT_NE(line.find(expected), std::string::npos) << line << " vs metrics.jsonl " << j.dump();
    // Logging does not change training: the step's own loss is the one the every-step run logged.
    const nlohmann::json& same_step = every_step[static_cast<size_t>(step - 1)];
    EXPECT_EQ(same_step["step"], step);
    EXPECT_NEAR(j["step_loss"].get<double>(), same_step["step_loss"].get<double>(), 1e-9);
    // The interval's loss is the mean over every target of its three steps. A text row of n tokens has
    // n - 1 next-token targets, so a step of 3 rows has (its tokens - 3); tokens are logged cumulatively.
    double loss_sum = 0, plain_sum = 0;
    int64_t targets = 0;
    for (int64_t s = step - 2; s <= step; ++s) {
      const nlohmann::json& e = every_step[static_cast<size_t>(s - 1)];
      const int64_t before = s > 1 ? every_step[static_cast<size_t>(s - 2)]["tokens"].get<int64_t>() : 0;
      const int64_t tokens = e["tokens"].get<int64_t>() - before;
      loss_sum += e["step_loss"].get<double>() * static_cast<double>(tokens - 3);
      plain_sum += e["step_loss"].get<double>();
      targets += tokens - 3;
    }
    EXPECT_NEAR(j["loss"].get<double>(), loss_sum / static_cast<double>(targets), 1e-9) << j.dump();
    std::printf("step %lld: loss %.6f (mean of the 3 steps' losses, unweighted: %.6f), step_loss %.6f\n",
                static_cast<long long>(step), j["loss"].get<double>(), plain_sum / 3, j["step_loss"].get<double>());
  }
  // With an interval of one step the two names give the same number.
  for (const nlohmann::json& j : every_step) EXPECT_EQ(j["loss"], j["step_loss"]) << j.dump();
}

TEST(Trainer, ConfigErrorsAreOneLine) {
  const std::string yaml = std::string(::testing::TempDir()) + "frugal_trainer_bad.yaml";
  std::ofstream(yaml) << "base_model: x.gguf\ndataset: d.jsonl\nlearning_rat: 1e-4\n";
  test::RunResult r = test::run_frugal("train " + yaml);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("learning_rat"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("learning_rate"), std::string::npos) << r.err;  // the suggestion
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  const std::string bad_data = std::string(::testing::TempDir()) + "frugal_trainer_bad.jsonl";
  std::ofstream(bad_data) << "{\"text\": \"fine\"}\n{\"text\": oops}\n";
  test::RunResult d = test::run_frugal("train --base_model " + test::data_file("stories260K/stories260K.bin") +
                                       " --tokenizer " + test::data_file("stories260K/tok512.bin") + " --dataset " +
                                       bad_data + " --output_dir " + std::string(::testing::TempDir()) + "frugal_bad_out");
  EXPECT_NE(d.exit_code, 0);
  EXPECT_NE(d.err.find(bad_data), std::string::npos) << d.err;
  EXPECT_NE(d.err.find("line 2"), std::string::npos) << d.err;
}

}  // namespace
}  // namespace frugal
