// llama.cpp's tokenizer test vectors (tests/data/vocab/*.inp / .out), read as test-tokenizer-0 does.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "test_paths.h"

namespace frugal::test {

// Cases are separated (and the file ended) by "\n__ggml_vocab_test__\n"; never split on lines,
// since cases may be empty or made of newlines.
inline std::vector<std::string> read_vocab_cases(const std::string& path) {
  const std::string text = read_file(path);
  EXPECT_FALSE(text.empty()) << "cannot read " << path;
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  size_t pos = 0;
  for (size_t hit; (hit = text.find(sep, pos)) != std::string::npos; pos = hit + sep.size())
    cases.push_back(text.substr(pos, hit - pos));
  EXPECT_EQ(pos, text.size()) << "text after the last separator in " << path;
  return cases;
}

// One line of space-separated ids per case.
inline std::vector<std::vector<int32_t>> read_vocab_expected(const std::string& path) {
  std::istringstream in(read_file(path));
  std::vector<std::vector<int32_t>> lines;
  for (std::string line; std::getline(in, line);) {
    std::istringstream ids(line);
    std::vector<int32_t> row;
    for (int32_t id; ids >> id;) row.push_back(id);
    lines.push_back(row);
  }
  return lines;
}

}  // namespace frugal::test
