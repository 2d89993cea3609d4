// `frugal init-model`: a random-weight Llama written as GGUF that frugal's loader reads back with
// the shape asked for, weights distributed as Hugging Face's LlamaPreTrainedModel initialises them
// (normal, std 0.02; RMSNorm weights 1), Q/K rows permuted exactly once on the way to the file,
// deterministic for a seed, and trainable with a tokenizer given separately.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "model/model.h"
#include "model/random_init.h"
#include "plan/model_shapes.h"
#include "run_frugal.h"

namespace frugal {
namespace {

const std::string kTokenizer = test::fixture("stories260k_hf/f32_sharded");  // 512 tokens
const std::string kTiny = "--hidden 64 --layers 2 --heads 4 --kv-heads 2 --ffn 192";

std::string temp(const std::string& name) { return std::string(::testing::TempDir()) + "frugal_init_" + name; }

std::string init_model(const std::string& name, const std::string& args) {
  const std::string path = temp(name + ".gguf");
  test::RunResult r = test::run_frugal("init-model -o " + path + " " + args);
  EXPECT_EQ(r.exit_code, 0) << args << ": " << r.err;
  return path;
}

struct Moments {
  double mean = 0, std = 0;
};
Moments moments(const std::vector<float>& v) {
  double s = 0, s2 = 0;
  for (float x : v) {
    s += x;
    s2 += static_cast<double>(x) * x;
  }
  const double n = static_cast<double>(v.size()), mean = s / n;
  return {mean, std::sqrt(s2 / n - mean * mean)};
}

TEST(InitModel, LoadsWithTheShapeAskedForAndHfInitialisation) {
  const std::string path = init_model("shape", kTiny + " --tokenizer-from " + kTokenizer + " --dtype f32 --seed 7");
  auto model = load_model(path);
  const LlamaConfig& c = model->config;
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.ffn_dim, 192);
  EXPECT_EQ(c.vocab_size, 512);  // follows the tokenizer
  EXPECT_TRUE(c.tied_output);
  EXPECT_EQ(model->tokenizer->size(), 512);

  std::vector<float> all;
  for (const WeightSlot& s : weight_slots(c, model->weights)) {
    std::vector<float> v(s.data, s.data + s.rows * s.cols);
    if (s.cols == 1) {  // RMSNorm weights start at exactly 1
      for (float x : v) ASSERT_EQ(x, 1.0f) << static_cast<int>(s.role) << " layer " << s.layer;
      continue;
    }
    const Moments m = moments(v);  // >= 2048 values each: the std's sampling error is under 2%
    EXPECT_NEAR(m.std, 0.02, 0.02 * 0.06) << static_cast<int>(s.role) << " layer " << s.layer;
    EXPECT_NEAR(m.mean, 0.0, 0.02 * 4 / std::sqrt(static_cast<double>(v.size())));
    all.insert(all.end(), v.begin(), v.end());
  }
  EXPECT_NEAR(moments(all).std, 0.02, 0.02 * 0.01);  // ~120k values: 0.2% sampling error
}

// The file holds Q/K in GGUF's row order; the loader undoes it. Drawing the same seed in memory (in
// HF order) must give the loaded weights bit for bit, which fails if either side permutes wrongly.
TEST(InitModel, FileEqualsTheSameDrawInMemory) {
  const std::string path = init_model("same_draw", kTiny + " --tokenizer-from " + kTokenizer + " --dtype f32 --seed 3");
  auto model = load_model(path);
  LlamaWeights drawn;
  drawn.allocate(model->config);
  RandomInit init;
  init.seed = 3;
  init.padding_row = model->tokenizer->vocab().pad_id;
  randomize_weights(model->config, drawn, init);
  const auto a = weight_slots(model->config, model->weights), b = weight_slots(model->config, drawn);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_EQ(0, std::memcmp(a[i].data, b[i].data, sizeof(float) * a[i].rows * a[i].cols))
        << "tensor " << i << " (role " << static_cast<int>(a[i].role) << ", layer " << a[i].layer << ")";
}

TEST(InitModel, SameSeedSameBytesOtherSeedOtherWeights) {
  const std::string args = kTiny + " --vocab 300 --dtype bf16 --seed ";
  const std::string a = test::read_file(init_model("seed_a", args + "11"));
  const std::string b = test::read_file(init_model("seed_b", args + "11"));
  const std::string other = test::read_file(init_model("seed_c", args + "12"));
  ASSERT_GT(a.size(), 300u * 64 * 2);
  EXPECT_TRUE(a == b);
  ASSERT_EQ(a.size(), other.size());
  size_t differing = 0;
  for (size_t i = 0; i < a.size(); ++i) differing += a[i] != other[i];
  EXPECT_GT(differing, a.size() / 2);  // the weights, not only the name in the metadata
}

TEST(InitModel, PresetShapeInBf16) {
  const std::string path = init_model("preset", "--preset stories260k --tokenizer-from " + kTokenizer);
  auto model = load_model(path);
  const LlamaConfig& want = find_preset("stories260k").config;
  const LlamaConfig& c = model->config;
  EXPECT_EQ(c.dim, want.dim);
  EXPECT_EQ(c.n_layers, want.n_layers);
  EXPECT_EQ(c.n_heads, want.n_heads);
  EXPECT_EQ(c.n_kv_heads, want.n_kv_heads);
  EXPECT_EQ(c.head_dim, want.head_dim);
  EXPECT_EQ(c.ffn_dim, want.ffn_dim);
  EXPECT_EQ(c.vocab_size, want.vocab_size);
  EXPECT_EQ(c.context_length, want.context_length);
  EXPECT_EQ(c.parameter_count(), want.parameter_count());
  ASSERT_EQ(model->source_tensors[0].name, "token_embd.weight");
  EXPECT_EQ(model->source_tensors[0].type, "BF16");  // the default dtype
  EXPECT_NEAR(moments(model->weights.token_embedding.data).std, 0.02, 0.02 * 0.03);
}

// Without --tokenizer-from the file has no tokenizer: loading it alone says so in one line, and
// `frugal train --tokenizer` trains it.
TEST(InitModel, WithoutTokenizerTrainsWithOneGiven) {
  const std::string path = init_model("no_tok", kTiny + " --vocab 512");
  try {
    load_model(path);
    FAIL() << "loaded a model without a tokenizer";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no tokenizer"), std::string::npos) << e.what();
  }
  EXPECT_EQ(load_model(path, kTokenizer)->tokenizer->size(), 512);

  const std::string data = temp("rows.jsonl"), out = temp("train_out");
  std::ofstream(data) << "{\"text\": \"Once upon a time there was a little dog who liked to run.\"}\n"
                      << "{\"text\": \"The cat sat in the sun and looked at the birds all day.\"}\n";
  std::filesystem::remove_all(out);
  test::RunResult r = test::run_frugal("train --base_model " + path + " --tokenizer " + kTokenizer + " --dataset " +
                                       data + " --output_dir " + out + " --max_steps 1 --sequence_len 32");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(out + "/summary.json"));
  std::filesystem::remove_all(out);
}

TEST(InitModel, BadShapesAreOneLineErrors) {
  const std::string out = " -o " + temp("bad.gguf");
  const std::pair<std::string, std::string> cases[] = {
      {"--preset llama-9b", "unknown preset"},
      {"--hidden 64 --layers 2 --heads 4 --vocab 512", "--ffn"},                   // a dimension missing
      {kTiny + " --heads 5 --vocab 512", "not a multiple"},                        // 5 heads, 2 kv heads
      {kTiny + " --vocab 0", "vocabulary size"},
      {kTiny + " --vocab 100 --tokenizer-from " + kTokenizer, "smaller than the tokenizer"},
      {kTiny + " --vocab 512 --dtype q4_0", "q4_0"},
      {kTiny + " --vocab 512 --layers banana", "banana"},
  };
  for (const auto& [args, says] : cases) {
    test::RunResult r = test::run_frugal("init-model" + out + " " + args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
    EXPECT_NE(r.err.find(says), std::string::npos) << args << ": " << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(temp("bad.gguf")));
}

TEST(InitModel, ListedInTheCommandsHelp) {
  test::RunResult r = test::run_frugal("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("init-model"), std::string::npos) << r.out;
  test::RunResult help = test::run_frugal("init-model --help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* option : {"--preset", "--hidden", "--layers", "--heads", "--kv-heads", "--ffn", "--vocab",
                             "--tokenizer-from", "--dtype", "--seed", "--std"})
    EXPECT_NE(help.out.find(option), std::string::npos) << option;
}

}  // namespace
}  // namespace frugal
