// Checkpoints: round trip, refusal of mismatched or corrupted files, the latest pointer and pruning,
// and what a crash at each stage of a save leaves behind (a forked child ends itself mid-save).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "train/checkpoint.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

struct Trainable {
  std::vector<float> values, m, v;
  explicit Trainable(size_t n, uint32_t seed = 1) : values(n), m(n), v(n) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal;
    for (size_t i = 0; i < n; ++i)
      values[i] = normal(rng), m[i] = normal(rng) * 1e-3f, v[i] = std::fabs(normal(rng)) * 1e-6f;
  }
};

TrainerState make_state(int64_t step) {
  TrainerState s;
  s.step = step;
  s.epoch = 2;
  s.data_position = 12345;
  s.tokens = 987654321;
  s.elapsed_seconds = 61.25;
  s.rng_state = {0xFFFFFFFFFFFFFFFFull, 42, 0x8000000000000000ull};
  for (int64_t i = 1; i <= step; ++i) s.train_loss.push_back({i, 3.0 / double(i)});
  s.train_loss.push_back({step + 1, NAN});
  s.eval_loss = {{step, 1.5}};
  s.layout = "lora r=8 targets=q_proj,v_proj layers=2";
  s.config_yaml = "base_model: m.gguf\nlearning_rate: 0.0002\n";
  return s;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TrainCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("frugal_ckpt_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string save(const Trainable& t, int64_t step, int64_t limit = 0) {
    return save_training_checkpoint(dir_.string(), make_state(step), t.values, t.m, t.v, limit);
  }

  // Expects loading `dir` to fail with a message containing `expect`, leaving `into` untouched.
  void expect_load_error(const std::string& dir, const std::string& expect, size_t n = 1000,
                         const std::string& layout = "") {
    Trainable into(n, 99);
    const Trainable before = into;
    try {
      load_checkpoint(dir, into.values, into.m, into.v, layout);
      ADD_FAILURE() << "expected: " << expect;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
    }
    EXPECT_EQ(into.values, before.values);
    EXPECT_EQ(into.m, before.m);
  }

  fs::path dir_;
};

TEST(TrainCrc32c, KnownValueAndChaining) {
  const char* text = "123456789";
  EXPECT_EQ(crc32c(text, 9), 0xE3069283u);
  EXPECT_EQ(crc32c(text + 4, 5, crc32c(text, 4)), 0xE3069283u);
  EXPECT_EQ(crc32c(text, 0), 0u);
  std::vector<uint8_t> big(1001);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7);
  EXPECT_EQ(crc32c(big.data() + 13, 988, crc32c(big.data(), 13)), crc32c(big.data(), big.size()));
}

TEST_F(TrainCheckpointTest, RoundTrip) {
  const Trainable t(1000);
  const std::string dir = save(t, 7);
  EXPECT_EQ(dir, (dir_ / "checkpoint-7").string());
  Trainable back(1000, 2);
  const TrainerState s = load_checkpoint(dir, back.values, back.m, back.v, make_state(7).layout);
  EXPECT_EQ(back.values, t.values);
  EXPECT_EQ(back.m, t.m);
  EXPECT_EQ(back.v, t.v);
  const TrainerState want = make_state(7);
  EXPECT_EQ(s.step, 7);
  EXPECT_EQ(s.epoch, want.epoch);
  EXPECT_EQ(s.data_position, want.data_position);
  EXPECT_EQ(s.tokens, want.tokens);
  EXPECT_EQ(s.elapsed_seconds, want.elapsed_seconds);
  EXPECT_EQ(s.rng_state, want.rng_state);
  EXPECT_EQ(s.layout, want.layout);
  EXPECT_EQ(s.config_yaml, want.config_yaml);
  ASSERT_EQ(s.train_loss.size(), want.train_loss.size());
  for (size_t i = 0; i + 1 < s.train_loss.size(); ++i) {
    EXPECT_EQ(s.train_loss[i].step, want.train_loss[i].step);
    EXPECT_EQ(s.train_loss[i].loss, want.train_loss[i].loss);  // exact: doubles survive JSON
  }
  EXPECT_TRUE(std::isnan(s.train_loss.back().loss));
  ASSERT_EQ(s.eval_loss.size(), 1u);
  EXPECT_EQ(s.eval_loss[0].loss, 1.5);
  // Nothing but the checkpoint and the pointer is left in the output folder.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"checkpoint-7", "latest"}));
  EXPECT_EQ(read(dir_ / "latest"), "checkpoint-7\n");
}

TEST_F(TrainCheckpointTest, EmptyTrainableSetRoundTrips) {
  const Trainable t(0);
  const std::string dir = save(t, 1);
  Trainable back(0);
  EXPECT_EQ(load_checkpoint(dir, back.values, back.m, back.v).step, 1);
}

TEST_F(TrainCheckpointTest, MismatchedModelIsRefusedByName) {
  const std::string dir = save(Trainable(1000), 3);
  expect_load_error(dir, "trainable.safetensors: tensor values: holds 1000 values but this run trains 999", 999);
  expect_load_error(dir, "trainer_state.json: layout: the checkpoint holds \"lora r=8", 1000, "lora r=16");
  expect_load_error((dir_ / "nowhere").string(), "nowhere: no such checkpoint folder");
}

TEST_F(TrainCheckpointTest, CorruptionIsDetected) {
  const Trainable t(1000);
  const fs::path dir = save(t, 3);
  const fs::path tensors = dir / "trainable.safetensors";
  const std::string original = read(tensors);
  {  // one flipped bit in the middle of the data
    std::string bad = original;
    bad[bad.size() / 2] ^= 0x10;
    std::ofstream(tensors, std::ios::binary) << bad;
    expect_load_error(dir, "trainable.safetensors: checksum mismatch");
  }
  {  // truncated
    std::ofstream(tensors, std::ios::binary) << original.substr(0, original.size() - 4);
    expect_load_error(dir, "trainable.safetensors: is " + std::to_string(original.size() - 4) + " bytes");
  }
  std::ofstream(tensors, std::ios::binary) << original;
  Trainable ok(1000, 5);
  EXPECT_NO_THROW(load_checkpoint(dir, ok.values, ok.m, ok.v));

  const fs::path state = dir / "trainer_state.json";
  const std::string state_text = read(state);
  {  // a plausible edit that still parses
    std::string edited = state_text;
    const size_t at = edited.find("\"step\": 3");
    ASSERT_NE(at, std::string::npos) << edited.substr(0, 300);
    edited.replace(at, 9, "\"step\": 4");
    std::ofstream(state, std::ios::binary) << edited;
    expect_load_error(dir, "trainer_state.json: checksum mismatch");
  }
  {
    std::ofstream(state, std::ios::binary) << state_text.substr(0, state_text.size() / 2);
    expect_load_error(dir, "trainer_state.json: not valid JSON");
  }
  std::ofstream(state, std::ios::binary) << state_text;
  {
    std::ofstream(dir / "config.yaml", std::ios::binary) << "base_model: other.gguf\n";
    expect_load_error(dir, "config.yaml: is 23 bytes, the checkpoint recorded");
  }
  fs::remove(dir / "config.yaml");
  expect_load_error(dir, "config.yaml: missing");
}

TEST_F(TrainCheckpointTest, LatestPointerAndPruning) {
  EXPECT_FALSE(latest_checkpoint(dir_.string()));
  EXPECT_THROW(resolve_checkpoint("latest", dir_.string()), Error);
  const Trainable t(50);
  save(t, 10, 2);
  save(t, 20, 2);
  EXPECT_EQ(latest_checkpoint(dir_.string()), (dir_ / "checkpoint-20").string());
  save(t, 30, 2);
  EXPECT_FALSE(fs::exists(dir_ / "checkpoint-10"));  // only the 2 newest are kept
  EXPECT_TRUE(fs::exists(dir_ / "checkpoint-20"));
  EXPECT_EQ(read(dir_ / "latest"), "checkpoint-30\n");
  EXPECT_EQ(resolve_checkpoint("latest", dir_.string()), (dir_ / "checkpoint-30").string());
  EXPECT_EQ(resolve_checkpoint((dir_ / "checkpoint-20/").string(), "unused"), (dir_ / "checkpoint-20").string());
  EXPECT_THROW(resolve_checkpoint((dir_ / "checkpoint-99").string(), "unused"), Error);

  // Without a pointer, the highest-numbered complete folder is found; incomplete ones are skipped.
  fs::remove(dir_ / "latest");
  fs::create_directories(dir_ / "checkpoint-40");
  EXPECT_EQ(latest_checkpoint(dir_.string()), (dir_ / "checkpoint-30").string());
  // A pointer at a folder that vanished falls back the same way.
  std::ofstream(dir_ / "latest") << "checkpoint-50\n";
  EXPECT_EQ(latest_checkpoint(dir_.string()), (dir_ / "checkpoint-30").string());

  // Saving the same step again replaces the folder (through rename-aside) with the new contents.
  Trainable other(50, 7);
  save(other, 30, 0);
  Trainable back(50);
  load_checkpoint((dir_ / "checkpoint-30").string(), back.values, back.m, back.v);
  EXPECT_EQ(back.values, other.values);
}

TEST_F(TrainCheckpointTest, WriteFileAtomically) {
  const std::string path = (dir_ / "plot.svg").string();
  write_file_atomically(path, "one");
  write_file_atomically(path, "two");
  EXPECT_EQ(read(path), "two");
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 1u);  // no temporary left behind
}

// The stage at which the forked child of CrashAt ends itself, abruptly, as a crash would.
const char* g_crash_stage = nullptr;
void crash_hook(const char* stage) {
  if (std::strcmp(stage, g_crash_stage) == 0) ::_exit(0);
}

class TrainCheckpointCrash : public TrainCheckpointTest {
 protected:
  // Runs a save of `t` at `step` in a child process that dies at `stage`.
  void crash_during_save(const Trainable& t, int64_t step, const char* stage) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      g_crash_stage = stage;
      set_checkpoint_stage_hook(crash_hook);
      try {
        save(t, step);
      } catch (...) {
      }
      ::_exit(3);  // the hook never fired
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0) << "the save never reached stage " << stage;
  }

  // The checkpoint a resume would pick, loaded.
  std::pair<TrainerState, Trainable> resume() {
    const std::string dir = resolve_checkpoint("latest", dir_.string());
    Trainable back(100, 1234);
    TrainerState s = load_checkpoint(dir, back.values, back.m, back.v);
    return {s, back};
  }
};

TEST_F(TrainCheckpointCrash, LeftoverTemporaryFolderIsIgnoredAndCleared) {
  const Trainable first(100, 1), second(100, 2);
  save(first, 10);
  crash_during_save(second, 20, "written");  // complete tmp folder, never renamed
  bool tmp_left = false;
  for (const auto& e : fs::directory_iterator(dir_))
    tmp_left |= e.path().filename().string().find(".tmp-") != std::string::npos;
  EXPECT_TRUE(tmp_left);
  fs::create_directories(dir_ / "checkpoint-30.tmp-999999");  // and a half-written one from long ago
  std::ofstream(dir_ / "checkpoint-30.tmp-999999" / "trainable.safetensors") << "garbage";
  auto [s, t] = resume();
  EXPECT_EQ(s.step, 10);
  EXPECT_EQ(t.values, first.values);
  // The next successful save clears what dead writers left.
  save(second, 20);
  for (const auto& e : fs::directory_iterator(dir_))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  EXPECT_EQ(resume().first.step, 20);
}

TEST_F(TrainCheckpointCrash, CrashBeforeThePointerMovesKeepsThePreviousCheckpoint) {
  const Trainable first(100, 1), second(100, 2);
  save(first, 10);
  crash_during_save(second, 20, "renamed");
  EXPECT_TRUE(fs::exists(dir_ / "checkpoint-20"));  // complete, but `latest` still names 10
  auto [s, t] = resume();
  EXPECT_EQ(s.step, 10);
  EXPECT_EQ(t.values, first.values);
}

TEST_F(TrainCheckpointCrash, CrashWhileReplacingAFolderKeepsTheOldCopy) {
  const Trainable first(100, 1), second(100, 2);
  save(first, 10);
  crash_during_save(second, 10, "aside");  // old folder renamed aside, new one not yet in place
  EXPECT_FALSE(fs::exists(dir_ / "checkpoint-10"));
  auto [s, t] = resume();
  EXPECT_EQ(s.step, 10);
  EXPECT_EQ(t.values, first.values);
  // A later save of that step takes its place and the aside copy goes.
  save(second, 10);
  auto [s2, t2] = resume();
  EXPECT_EQ(t2.values, second.values);
  for (const auto& e : fs::directory_iterator(dir_))
    EXPECT_EQ(e.path().filename().string().find(".old-"), std::string::npos) << e.path();
}

}  // namespace
}  // namespace frugal
