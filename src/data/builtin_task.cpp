#include "data/builtin_task.h"

#include <cstdio>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace frugal {

namespace {

const char* kMonths[12] = {"January", "February", "March",     "April",   "May",      "June",
                           "July",    "August",   "September", "October", "November", "December"};

std::string ordinal(int d) {
  const char* suffix = (d % 100 >= 11 && d % 100 <= 13) ? "th" : d % 10 == 1 ? "st" : d % 10 == 2 ? "nd" : d % 10 == 3 ? "rd" : "th";
  return std::to_string(d) + suffix;
}

int days_in_month(int y, int m) {
  static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[m - 1];
}

std::string two(int v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02d", v);
  return buf;
}

// The many ways people write a date; each is unambiguous (numeric forms say their order).
std::string render(int y, int m, int d, int style) {
  const std::string month = kMonths[m - 1], mon3 = month.substr(0, 3), ys = std::to_string(y);
  switch (style) {
    case 0: return month + " " + std::to_string(d) + ", " + ys;
    case 1: return std::to_string(d) + " " + month + " " + ys;
    case 2: return "the " + ordinal(d) + " of " + month + ", " + ys;
    case 3: return mon3 + ". " + std::to_string(d) + ", " + ys;
    case 4: return two(m) + "/" + two(d) + "/" + ys + " (month/day/year)";
    case 5: return two(d) + "." + two(m) + "." + ys + " (day.month.year)";
    case 6: return month + " " + ordinal(d) + " " + ys;
    default: return ys + ", " + month + " " + std::to_string(d);
  }
}

const char* kRequests[4] = {
    "Convert this date to ISO 8601 format (YYYY-MM-DD): ",
    "Write the following date as YYYY-MM-DD: ",
    "What is this date in ISO 8601 format? ",
    "Give the date in YYYY-MM-DD form, nothing else: ",
};

}  // namespace

std::vector<TaskExample> make_date_task(int64_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int lo, int hi) { return static_cast<int>(lo + rng() % static_cast<uint64_t>(hi - lo + 1)); };
  std::vector<TaskExample> out;
  out.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const int y = pick(1950, 2049), m = pick(1, 12), d = pick(1, days_in_month(y, m));
    const int style = pick(0, 7);
    TaskExample e;
    e.prompt = std::string(kRequests[pick(0, 3)]) + render(y, m, d, style);
    e.answer = std::to_string(y) + "-" + two(m) + "-" + two(d);
    out.push_back(std::move(e));
  }
  return out;
}

void write_task_jsonl(const std::string& path, const std::vector<TaskExample>& examples) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) fail(path, "", "cannot write");
    for (const TaskExample& e : examples) {
      nlohmann::json j;
      j["messages"] = {{{"role", "user"}, {"content", e.prompt}}, {{"role", "assistant"}, {"content", e.answer}}};
      out << j.dump() << "\n";
    }
    if (!out) fail(path, "", "write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(path, "", "cannot rename the temporary file into place");
}

}  // namespace frugal
