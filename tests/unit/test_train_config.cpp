// The training config: YAML keys, CLI overrides, validation messages, --help and the echoed YAML,
// all generated from one declaration table.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "train/train_config.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

class TrainConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("frugal_train_config_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& text, const std::string& name = "config.yaml") {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  // The error message of loading `yaml` with `overrides`; fails the test when it loads.
  std::string error_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
    const std::string path = write(yaml);
    try {
      load_train_config(path, overrides);
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected an error for:\n" << yaml;
    return "";
  }

  fs::path dir_;
};

const std::string kRequired = "base_model: model.gguf\ndataset: data.jsonl\n";

TEST_F(TrainConfigTest, MinimalFileKeepsEveryDefault) {
  const TrainConfig c = load_train_config(write(kRequired), {});
  TrainConfig expected;
  expected.base_model = "model.gguf";
  expected.dataset = "data.jsonl";
  EXPECT_EQ(c, expected);
}

TEST_F(TrainConfigTest, ReadsEveryKind) {
  const TrainConfig c = load_train_config(write(kRequired + "lora_r: 16\n"
                                                            "learning_rate: 1e-4\n"
                                                            "lora_dropout: 0.05\n"
                                                            "bf16: false\n"
                                                            "gradient_checkpointing: yes\n"
                                                            "lr_scheduler: linear\n"
                                                            "max_steps: 1e3\n"
                                                            "val_dataset:\n"
                                                            "lora_target_modules: [q_proj, v_proj]\n"),
                                          {});
  EXPECT_EQ(c.lora_r, 16);
  EXPECT_EQ(c.learning_rate, 1e-4);
  EXPECT_EQ(c.lora_dropout, 0.05);
  EXPECT_FALSE(c.bf16);
  EXPECT_TRUE(c.gradient_checkpointing);
  EXPECT_EQ(c.lr_scheduler, "linear");
  EXPECT_EQ(c.max_steps, 1000);
  EXPECT_EQ(c.val_dataset, "");
  EXPECT_EQ(c.lora_target_modules, "q_proj,v_proj");
}

TEST_F(TrainConfigTest, UnknownKeySuggestsTheNearestName) {
  const std::string e = error_of(kRequired + "lerning_rate: 1e-4\n");
  EXPECT_NE(e.find("config.yaml: key lerning_rate (line 3): unknown option (did you mean learning_rate?)"),
            std::string::npos)
      << e;
  const std::string far = error_of(kRequired + "completely_unrelated_thing: 1\n");
  EXPECT_NE(far.find("unknown option"), std::string::npos) << far;
  EXPECT_EQ(far.find("did you mean"), std::string::npos) << far;
}

TEST_F(TrainConfigTest, WrongTypesNameKeyAndLine) {
  struct Case {
    std::string line, expect;
  } cases[] = {
      {"lora_r: abc", "key lora_r (line 3): expected a whole number, got 'abc'"},
      {"lora_r: 2.5", "key lora_r (line 3): expected a whole number, got '2.5'"},
      {"learning_rate: fast", "key learning_rate (line 3): expected a number, got 'fast'"},
      {"learning_rate: .nan", "key learning_rate (line 3): expected a number"},
      {"bf16: maybe", "key bf16 (line 3): expected true or false, got 'maybe'"},
      {"lora_r:", "key lora_r (line 3): needs a value"},
      {"lora_r: [1, 2]", "key lora_r (line 3): expected a single value (INT), got a list"},
      {"method: {a: 1}", "key method (line 3): expected a single value (TEXT), got a mapping"},
  };
  for (const Case& c : cases) {
    const std::string e = error_of(kRequired + c.line + "\n");
    EXPECT_NE(e.find(c.expect), std::string::npos) << c.line << " -> " << e;
  }
}

TEST_F(TrainConfigTest, RangesAndChoicesAreValidated) {
  struct Case {
    std::string line, expect;
  } cases[] = {
      {"lora_r: 0", "key lora_r (line 3): 0 is out of range: must be >= 1"},
      {"lora_dropout: 1", "key lora_dropout (line 3): 1.0 is out of range: must be < 1 and >= 0"},
      {"lora_dropout: -0.1", "key lora_dropout (line 3): -0.1 is out of range: must be >= 0 and < 1"},
      {"learning_rate: 0", "key learning_rate (line 3): 0.0 is out of range: must be > 0"},
      {"micro_batch_size: 0", "key micro_batch_size (line 3): 0 is out of range: must be >= 1"},
      {"max_nonfinite_steps: 0", "key max_nonfinite_steps (line 3): 0 is out of range: must be >= 1"},
      {"gradient_accumulation_steps: -2", "key gradient_accumulation_steps (line 3): -2 is out of range"},
      {"adam_beta2: 1.0", "key adam_beta2 (line 3): 1.0 is out of range: must be < 1"},
      {"val_set_size: 2.5", "key val_set_size (line 3): 2.5 is neither a fraction below 1 nor a whole count"},
      {"method: qlora", "key method (line 3): 'qlora' is not one of lora, full"},
      {"lr_scheduler: step", "key lr_scheduler (line 3): 'step' is not one of constant, linear, cosine"},
      {"dataset_format: csv", "key dataset_format (line 3): 'csv' is not one of auto, text, instruction, chat"},
  };
  for (const Case& c : cases) {
    const std::string e = error_of(kRequired + c.line + "\n");
    EXPECT_NE(e.find(c.expect), std::string::npos) << c.line << " -> " << e;
  }
  // Boundaries that are allowed.
  EXPECT_NO_THROW(load_train_config(write(kRequired + "lora_dropout: 0\nval_set_size: 0.2\nmax_grad_norm: 0\n"), {}));
  EXPECT_NO_THROW(load_train_config(write(kRequired + "val_set_size: 200\n"), {}));
}

TEST_F(TrainConfigTest, RequiredKeysAreNamed) {
  const std::string e = error_of("dataset: data.jsonl\n");
  EXPECT_NE(e.find("config.yaml: key base_model: is required but not set"), std::string::npos) << e;
  EXPECT_NE(e.find("--base_model"), std::string::npos) << e;
  const std::string e2 = error_of("base_model: m.gguf\n");
  EXPECT_NE(e2.find("key dataset: is required"), std::string::npos) << e2;
  // An override can supply them.
  const TrainConfig c = load_train_config(write("dataset: d.jsonl\n"), {"--base_model", "m.gguf"});
  EXPECT_EQ(c.base_model, "m.gguf");
}

TEST_F(TrainConfigTest, YamlStructureErrors) {
  EXPECT_NE(error_of(kRequired + "lora_r: 4\nlora_r: 8\n").find("key lora_r (line 4): given twice (first on line 3)"),
            std::string::npos);
  EXPECT_NE(error_of("- a\n- b\n").find("expected a mapping"), std::string::npos);
  const std::string syntax = error_of(kRequired + "lora_r: [1, 2\n");
  EXPECT_NE(syntax.find("not valid YAML"), std::string::npos) << syntax;
  EXPECT_NE(syntax.find("line "), std::string::npos) << syntax;
  // Found by fuzz_train_config: for these bytes yaml-cpp's message ends in a raw line feed ("unknown
  // escape character: \n"); the error stays one line, the byte escaped.
  const std::string escape = error_of(std::string("\x9f\xfe\r\0\n", 5));
  EXPECT_NE(escape.find("not valid YAML: unknown escape character: \\n"), std::string::npos) << escape;
  EXPECT_EQ(escape.find('\n'), std::string::npos) << escape;
  try {
    load_train_config((dir_ / "missing.yaml").string(), {});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.yaml: cannot open"), std::string::npos) << e.what();
  }
}

TEST_F(TrainConfigTest, CommandLineOverridesInEveryForm) {
  const std::string path = write(kRequired + "learning_rate: 3e-4\nbf16: true\nlora_r: 4\n");
  const TrainConfig c = load_train_config(path, {"--learning_rate", "1e-4", "--lora-r=32", "--bf16", "false",
                                                 "--gradient_checkpointing", "--lora_dropout=0.1", "--sample-packing"});
  EXPECT_EQ(c.learning_rate, 1e-4);  // the command line wins over the file
  EXPECT_EQ(c.lora_r, 32);
  EXPECT_FALSE(c.bf16);
  EXPECT_TRUE(c.gradient_checkpointing);  // a bare flag followed by another option
  EXPECT_EQ(c.lora_dropout, 0.1);
  EXPECT_TRUE(c.sample_packing);  // a bare flag at the very end
  EXPECT_EQ(load_train_config(path, {"--bf16=no"}).bf16, false);
  EXPECT_EQ(load_train_config(path, {"--seed", "-0"}).seed, 0);  // values may start with '-'
}

TEST_F(TrainConfigTest, CommandLineErrors) {
  const std::string path = write(kRequired);
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  } cases[] = {
      {{"--lerning_rate", "1"}, "command line: --lerning_rate: unknown option (did you mean learning_rate?)"},
      {{"--lora_r"}, "command line: --lora_r: needs a value (INT)"},
      {{"--lora_r", "many"}, "command line: --lora_r: expected a whole number, got 'many'"},
      {{"--lora_r", "0"}, "command line: --lora_r: 0 is out of range: must be >= 1"},
      {{"--method=qlora"}, "command line: --method: 'qlora' is not one of lora, full"},
      {{"stray"}, "command line: 'stray': unexpected argument"},
      {{"--bf16=maybe"}, "command line: --bf16: expected true or false, got 'maybe'"},
  };
  for (const Case& c : cases) {
    try {
      load_train_config(path, c.args);
      ADD_FAILURE() << c.expect;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.expect), std::string::npos) << e.what();
    }
  }
  // A value that a later override fixes is no error; validation sees the final config.
  EXPECT_NO_THROW(load_train_config(write(kRequired + "lora_r: 0\n"), {"--lora_r", "2"}));
}

TEST_F(TrainConfigTest, FromOverridesAlone) {
  const TrainConfig c =
      train_config_from_overrides({"--base_model", "a.gguf", "--dataset", "d.json", "--max_steps", "10"});
  EXPECT_EQ(c.base_model, "a.gguf");
  EXPECT_EQ(c.max_steps, 10);
  try {
    train_config_from_overrides({"--dataset", "d.json"});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("command line: key base_model: is required"), std::string::npos) << e.what();
  }
}

TEST_F(TrainConfigTest, YamlRoundTripsEveryKey) {
  TrainConfig c;
  c.base_model = "/models/my model: v2.gguf";  // a colon and a space: needs quoting
  c.tokenizer = "yes";                         // a YAML 1.1 boolean word, as a string
  c.dataset = "data \"quoted\" \\ back#slash.jsonl";
  c.dataset_format = "chat";
  c.instruction_key = "123";  // a number-looking string
  c.input_key = "in\tput\n";
  c.output_key = "réponse";
  c.text_key = "";
  c.messages_key = "conversations";
  c.val_dataset = "val.jsonl";
  c.val_set_size = 0.05;
  c.train_on_inputs = true;
  c.sequence_len = 2048;
  c.sample_packing = true;
  c.group_by_length = true;
  c.output_dir = "out/run-1";
  c.resume_from_checkpoint = "latest";
  c.init_adapter = "adapters/a";
  c.method = "full";
  c.lora_r = 64;
  c.lora_alpha = 0.1 + 0.2;  // not a short decimal: must survive exactly
  c.lora_dropout = 0.05;
  c.lora_target_modules = "q_proj,v_proj";
  c.use_rslora = true;
  c.rope_scaling_type = "yarn";
  c.rope_scaling_factor = 4;
  c.rope_scaling_original_max_position_embeddings = 8192;
  c.learning_rate = 3.14159e-5;
  c.lr_scheduler = "linear";
  c.warmup_steps = 17;
  c.weight_decay = 0.01;
  c.adam_beta1 = 0.8;
  c.adam_beta2 = 0.95;
  c.adam_epsilon = 1e-6;
  c.max_grad_norm = 0.5;
  c.max_nonfinite_steps = 2;
  c.micro_batch_size = 3;
  c.gradient_accumulation_steps = 5;
  c.num_epochs = 7;
  c.max_steps = 123;
  c.gradient_checkpointing = true;
  c.bf16 = false;
  c.logging_steps = 9;
  c.eval_steps = 11;
  c.save_steps = 13;
  c.save_total_limit = 2;
  c.seed = 1234567890123;
  c.threads = 2;
  const std::string yaml = train_config_to_yaml(c);
  const TrainConfig back = load_train_config(write(yaml, "echo.yaml"), {});
  EXPECT_EQ(back, c) << yaml;
  EXPECT_EQ(train_config_to_yaml(back), yaml);
  // A default config also round-trips (with the required keys given).
  TrainConfig d;
  d.base_model = "m";
  d.dataset = "d";
  EXPECT_EQ(load_train_config(write(train_config_to_yaml(d), "d.yaml"), {}), d);
}

// axolotl writes `rope_scaling: {type: linear, factor: 4}`; the same keys also read flat, from the
// command line with a dot, and are echoed as a mapping.
TEST_F(TrainConfigTest, RopeScalingIsAMappingAsAxolotlWritesIt) {
  const TrainConfig c = load_train_config(write(kRequired + "rope_scaling:\n  type: linear\n  factor: 4\n"), {});
  EXPECT_EQ(c.rope_scaling_type, "linear");
  EXPECT_EQ(c.rope_scaling_factor, 4.0);
  EXPECT_EQ(c.rope_scaling_original_max_position_embeddings, 0);
  const TrainConfig flow = load_train_config(write(kRequired + "rope_scaling: {type: yarn, factor: 2.5}\n"),
                                             {"--rope_scaling.original_max_position_embeddings", "4096"});
  EXPECT_EQ(flow.rope_scaling_type, "yarn");
  EXPECT_EQ(flow.rope_scaling_factor, 2.5);
  EXPECT_EQ(flow.rope_scaling_original_max_position_embeddings, 4096);
  const TrainConfig flat = load_train_config(write(kRequired + "rope_scaling.type: dynamic\n"), {});
  EXPECT_EQ(flat.rope_scaling_type, "dynamic");
  EXPECT_NE(train_config_to_yaml(c).find("\nrope_scaling:\n  type: linear\n  factor: 4.0\n"), std::string::npos)
      << train_config_to_yaml(c);

  EXPECT_NE(error_of(kRequired + "rope_scaling:\n  type: ntk\n").find("key rope_scaling.type (line 4): 'ntk' is not one of"),
            std::string::npos);
  EXPECT_NE(error_of(kRequired + "rope_scaling:\n  type: linear\n  factor: 0.5\n")
                .find("key rope_scaling.factor (line 5): 0.5 is out of range: must be >= 1"),
            std::string::npos);
  EXPECT_NE(error_of(kRequired + "rope_scaling:\n  rope_type: linear\n")
                .find("key rope_scaling.rope_type (line 4): unknown option (did you mean rope_scaling.type?)"),
            std::string::npos);
  EXPECT_NE(error_of(kRequired + "rope_scaling:\n  type: linear\nrope_scaling.type: yarn\n")
                .find("key rope_scaling.type (line 5): given twice (first on line 4)"),
            std::string::npos);
  EXPECT_NE(error_of(kRequired + "rope_scaling: 4\n").find("key rope_scaling (line 3): unknown option"),
            std::string::npos);
}

TEST_F(TrainConfigTest, HelpListsEveryKeyWithDefault) {
  const std::string help = train_config_help();
  const std::string yaml = train_config_to_yaml(TrainConfig{});
  size_t keys = 0;
  std::istringstream lines(yaml);
  std::string group;  // rope_scaling: its keys follow, indented
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    if (line.back() == ':') {
      group = line.substr(0, line.size() - 1);
      continue;
    }
    const bool nested = line.rfind("  ", 0) == 0;
    const std::string key = (nested ? group + "." : "") + line.substr(nested ? 2 : 0, line.find(':') - (nested ? 2 : 0));
    ++keys;
    EXPECT_NE(help.find("--" + key + " "), std::string::npos) << key;
  }
  EXPECT_EQ(keys, 56u);  // one per TrainConfig field
  EXPECT_NE(help.find("[default: 2.0e-04]"), std::string::npos);
  EXPECT_NE(help.find("--base_model TEXT"), std::string::npos);
  EXPECT_NE(help.find("(required)"), std::string::npos);
  EXPECT_NE(help.find("--lora_r INT"), std::string::npos);
}

}  // namespace
}  // namespace frugal
