// A small task the project generates itself, for the README's main job and for end-to-end tests:
// rewrite a date written in one of many everyday styles as ISO 8601 (YYYY-MM-DD). The answer is a
// fixed format, so improvement is unambiguous: held-out exact match before and after fine-tuning.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace frugal {

struct TaskExample {
  std::string prompt;  // the user's request
  std::string answer;  // the exact expected reply
};

// `count` examples, deterministic for a seed; distinct seeds give disjoint-looking sets (held-out
// sets use a different seed than training sets).
std::vector<TaskExample> make_date_task(int64_t count, uint64_t seed);

// Writes chat-format JSONL: {"messages":[{"role":"user",...},{"role":"assistant",...}]} per line.
void write_task_jsonl(const std::string& path, const std::vector<TaskExample>& examples);

}  // namespace frugal
