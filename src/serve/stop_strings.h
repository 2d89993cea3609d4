// OpenAI's `stop`: generation ends where one of the strings first appears, and the text returned
// ends just before it. Text is let out as it streams except a tail that could still grow into a
// stop string, so a streamed reply never shows part of a stop string it then takes back.
#pragma once
#include <string>
#include <vector>

namespace frugal {

class StopStrings {
 public:
  explicit StopStrings(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  // Adds generated text; returns the text now safe to send. Once a stop string is found, returns
  // the text before it, and stopped() is true.
  std::string push(const std::string& text);
  std::string flush();  // the end of generation: the tail held back
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace frugal
