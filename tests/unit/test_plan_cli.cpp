// `frugal plan` as a user runs it: --help documents every input the issue lists, the JSON carries
// the table and the decision tree, the GGUF path reads only the header, and bad input fails with
// one clear line.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "run_frugal.h"

namespace frugal {
namespace {

TEST(PlanCli, HelpDocumentsEveryInput) {
  test::RunResult r = test::run_frugal("plan --help");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* option : {"--preset",
                             "--model",
                             "--tokenizer",
                             "--method",
                             "--lora-r",
                             "--lora-targets",
                             "--lora-fraction",
                             "--weights-dtype",
                             "--double-quant",
                             "--grad-dtype",
                             "--optimizer",
                             "--mixed-precision",
                             "--gradient-checkpointing",
                             "--memory-efficient-attention",
                             "--micro-batch",
                             "--seq-len",
                             "--grad-accum",
                             "--ranks",
                             "--zero-stage",
                             "--memory",
                             "--throughput",
                             "--peak-flops",
                             "--mfu",
                             "--tokens",
                             "--json",
                             "--profile"})
    EXPECT_NE(r.out.find(option), std::string::npos) << option;
  for (const char* value : {"full", "qlora", "adamw8bit", "nf4", "frugal", "lecture", "llama-2-13b", "gpt-3-175b"})
    EXPECT_NE(r.out.find(value), std::string::npos) << value;
}

// The lecture's Llama-2-13B full fine-tuning (26 + 52 + 156 GB before activations) through the CLI.
TEST(PlanCli, JsonTableAndDecision) {
  test::RunResult r = test::run_frugal(
      "plan --preset llama-2-13b --method full --mixed-precision --memory 25.77 --throughput 100 --tokens 1e6 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  double weights = 0, gradients = 0, optimizer = 0;
  for (const auto& c : j["memory"]["components"]) {
    if (c["name"] == "weights") weights = c["bytes"];
    if (c["name"] == "gradients") gradients = c["bytes"];
    if (c["name"] == "optimizer state" || c["name"] == "master weights") optimizer += c["bytes"].get<double>();
  }
  EXPECT_NEAR(weights / 1e9, 26.0, 0.1);
  EXPECT_NEAR(gradients / 1e9, 52.1, 0.1);
  EXPECT_NEAR(optimizer / 1e9, 156.2, 0.1);
  EXPECT_FALSE(j["fits"].get<bool>());
  EXPECT_TRUE(j["decision"]["fits"].get<bool>());
  EXPECT_EQ(j["decision"]["steps"].back()["action"].get<std::string>().substr(0, 5), "QLoRA");
  EXPECT_DOUBLE_EQ(j["compute"]["seconds"].get<double>(), 1e4);
}

TEST(PlanCli, GgufHeaderAndFrugalProfile) {
  const std::string gguf = test::model_cache("SmolLM2-135M-Instruct.Q4_1.gguf");
  ASSERT_TRUE(static_cast<bool>(std::ifstream(gguf))) << "no " << gguf << " (scripts/fetch_model.sh)";
  test::RunResult r = test::run_frugal("plan -m " + gguf + " --profile frugal --mixed-precision --memory 24 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["model"]["parameters"].get<double>(), 134515008.0);
  EXPECT_EQ(j["memory"]["profile"], "frugal");
  EXPECT_GT(j["memory"]["load_phase_bytes"].get<double>(), 4 * 134515008.0);  // fp32 weights + the mapped file
}

TEST(PlanCli, BadInputFailsWithOneLine) {
  for (const char* args : {"plan", "plan --preset llama-9b", "plan --preset llama-2-7b --method sft",
                           "plan --preset llama-2-7b --method full --weights-dtype nf4",
                           "plan --preset llama-2-7b --zero-stage 5", "plan --preset llama-2-7b --memory -1"}) {
    test::RunResult r = test::run_frugal(args);
    EXPECT_EQ(r.exit_code, 1) << args;
    EXPECT_NE(r.err.find("error:"), std::string::npos) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
  }
}

}  // namespace
}  // namespace frugal
