// Helpers for tests that run `frugal train` on stories260K as a user would and then look at what the
// output folder holds: a small text dataset, the command line, metrics.jsonl and checkpoints.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "run_frugal.h"
#include "train/checkpoint.h"

namespace frugal::test {

// A fresh folder under the test temp dir, unique to this process and `name`.
inline std::string fresh_dir(const std::string& name) {
  const std::string dir =
      std::string(::testing::TempDir()) + "frugal_" + name + "_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  return dir;
}

// Short stories-like lines of different lengths, `records` of them, one JSONL record per line.
inline std::string story_dataset(const std::string& name, int records) {
  const std::string path = std::string(::testing::TempDir()) + "frugal_" + name + "_" + std::to_string(::getpid()) + ".jsonl";
  std::ofstream out(path);
  const char* lines[] = {"Lily saw a big red ball in the park.", "Tom had a little dog named Max.",
                         "The sun was warm and the sky was blue.", "She wanted to play with her mom."};
  for (int i = 0; i < records; ++i) out << nlohmann::json{{"text", lines[i % 4]}}.dump() << "\n";
  return path;
}

// `frugal train` arguments for stories260K on `dataset` into `output_dir`; `extra` is appended.
inline std::string stories_train_args(const std::string& dataset, const std::string& output_dir,
                                      const std::string& extra) {
  return "train --base_model " + data_file("stories260K/stories260K.bin") + " --tokenizer " +
         data_file("stories260K/tok512.bin") + " --dataset " + dataset + " --output_dir " + output_dir +
         " --bf16 false --lr_scheduler constant --logging_steps 1 --threads 1 " + extra;
}

inline std::vector<nlohmann::json> metrics_lines(const std::string& output_dir) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(output_dir + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

// The lines of `text` (no trailing empty one).
inline std::vector<std::string> text_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < text.size()) {
    const size_t end = text.find('\n', at);
    out.push_back(text.substr(at, end == std::string::npos ? std::string::npos : end - at));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return out;
}

// A checkpoint's arrays, loaded (every file's size and checksum verified) with the count it records.
struct LoadedCheckpoint {
  TrainerState state;
  std::vector<float> values, m, v;
};
inline LoadedCheckpoint load_checkpoint_folder(const std::string& dir) {
  const nlohmann::json j = nlohmann::json::parse(read_file(dir + "/trainer_state.json"));
  const size_t count = j["trainable_count"].get<size_t>();
  LoadedCheckpoint c;
  c.values.resize(count), c.m.resize(count), c.v.resize(count);
  c.state = load_checkpoint(dir, c.values, c.m, c.v);
  return c;
}

inline bool all_finite(const std::vector<float>& x) {
  for (float f : x)
    if (!std::isfinite(f)) return false;
  return true;
}

}  // namespace frugal::test
