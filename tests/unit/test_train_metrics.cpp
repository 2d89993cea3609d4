// Run reporting: metrics.jsonl lines, the progress display, the SVG loss plot, and process memory.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/peak_rss.h"
#include "train/loss_plot.h"
#include "train/metrics.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir() {
  const fs::path d = fs::temp_directory_path() / ("frugal_metrics_" + std::to_string(::getpid()) + "_" +
                                                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string read_stream(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  return out;
}

TEST(TrainMetrics, JsonLinesParse) {
  const fs::path dir = temp_dir();
  {
    MetricsWriter w((dir / "metrics.jsonl").string());
    MetricsRecord r;
    r.step = 1;
    r.epoch = 0.25;
    r.loss = 2.5;
    r.step_loss = 2.4;
    r.learning_rate = 1e-4;
    r.grad_norm = 0.75;
    r.tokens = 2048;
    r.tokens_per_second = 400.5;
    r.elapsed_seconds = 5.1;
    w.write(r);
    r.step = 2;
    r.loss = NAN;  // a diverged step must not make the file unreadable
    w.write(r);
    MetricsRecord eval;
    eval.step = 2;
    eval.eval_loss = 2.25;
    w.write(eval);
  }
  const std::vector<std::string> lines = lines_of(dir / "metrics.jsonl");
  ASSERT_EQ(lines.size(), 3u);
  std::vector<nlohmann::json> j;
  for (const std::string& l : lines) j.push_back(nlohmann::json::parse(l));  // throws if malformed
  EXPECT_EQ(j[0]["step"], 1);
  EXPECT_EQ(j[0]["epoch"], 0.25);
  EXPECT_EQ(j[0]["loss"], 2.5);
  EXPECT_EQ(j[0]["step_loss"], 2.4);
  EXPECT_EQ(j[0]["lr"], 1e-4);
  EXPECT_EQ(j[0]["grad_norm"], 0.75);
  EXPECT_EQ(j[0]["tokens"], 2048);
  EXPECT_EQ(j[0]["tokens_per_second"], 400.5);
  EXPECT_EQ(j[0]["elapsed"], 5.1);
  EXPECT_FALSE(j[0].contains("eval_loss"));
  EXPECT_TRUE(j[1]["loss"].is_null());
  EXPECT_EQ(j[2]["eval_loss"], 2.25);
  EXPECT_FALSE(j[2].contains("loss"));
  EXPECT_FALSE(j[2].contains("step_loss"));
  EXPECT_EQ(lines[0].rfind("{\"step\":1,", 0), 0u) << lines[0];  // step first on every line
  fs::remove_all(dir);
}

// The logged loss is per target token over the whole interval: a step of 10 targets at mean 3.0 and
// one of 2 targets at mean 2.0 give (30 + 4) / 12, not the mean of the two steps' losses (2.5).
TEST(TrainMetrics, IntervalLossIsWeightedByTargets) {
  IntervalLoss interval;
  EXPECT_EQ(interval.mean(), 0.0);  // nothing yet
  interval.add(30.0, 10);
  EXPECT_DOUBLE_EQ(interval.mean(), 3.0);  // one step: that step's own loss
  interval.add(4.0, 2);
  EXPECT_DOUBLE_EQ(interval.mean(), 34.0 / 12.0);
  EXPECT_EQ(interval.targets(), 12);
  interval.add(0.0, 0);  // a step without targets changes nothing
  EXPECT_DOUBLE_EQ(interval.mean(), 34.0 / 12.0);
  interval.reset();
  EXPECT_EQ(interval.mean(), 0.0);
  EXPECT_EQ(interval.targets(), 0);
  interval.add(NAN, 5);  // a diverged step shows as nan until the next interval
  EXPECT_TRUE(std::isnan(interval.mean()));
}

TEST(TrainMetrics, ResumeKeepsLinesUpToTheCheckpoint) {
  const fs::path dir = temp_dir();
  const std::string path = (dir / "metrics.jsonl").string();
  {
    MetricsWriter w(path);
    for (int64_t s = 1; s <= 5; ++s) {
      MetricsRecord r;
      r.step = s;
      w.write(r);
    }
  }
  std::ofstream(path, std::ios::app) << "{\"step\": 6, \"lo";  // cut short by a crash
  {
    MetricsWriter w(path, 3);
    MetricsRecord r;
    r.step = 4;
    w.write(r);
  }
  const std::vector<std::string> lines = lines_of(path);
  ASSERT_EQ(lines.size(), 4u);
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(nlohmann::json::parse(lines[i])["step"], int64_t(i) + 1);
  {
    MetricsWriter fresh(path);  // no resume: starts over
  }
  EXPECT_TRUE(lines_of(path).empty());
  fs::remove_all(dir);
}

TEST(TrainProgress, Formatting) {
  EXPECT_EQ(format_duration(42.4), "42s");
  EXPECT_EQ(format_duration(185), "3m05s");
  EXPECT_EQ(format_duration(3720), "1h02m");
  EXPECT_EQ(format_duration(2 * 86400 + 3 * 3600), "2d03h");
  EXPECT_EQ(format_duration(-1), "?");
  ProgressInfo p{25, 100, 2.34567, 1.8e-4, 412.3, 62, 185};
  const std::string plain = format_progress_line(p, false, 0);
  EXPECT_EQ(plain, "step 25/100 (25%) loss 2.3457 lr 1.80e-04 tokens/s 412 elapsed 1m02s eta 3m05s");
  for (int width : {200, 100, 80, 60, 30}) {
    const std::string bar = format_progress_line(p, true, width);
    EXPECT_LE(int(bar.size()), width - 1) << bar;  // never wraps
    EXPECT_EQ(bar.rfind("step 25/100", 0), 0u) << bar;
    if (width >= 80) {
      EXPECT_NE(bar.find("[##"), std::string::npos) << bar;
      EXPECT_NE(bar.find("ETA 3m05s"), std::string::npos) << bar;
    }
  }
  p.eta_seconds = -1;
  EXPECT_NE(format_progress_line(p, true, 120).find("ETA ?"), std::string::npos);
  p.mfu = 0.1234;
  EXPECT_EQ(format_progress_line(p, false, 0),
            "step 25/100 (25%) loss 2.3457 lr 1.80e-04 tokens/s 412 MFU 12.3% elapsed 1m02s eta ?");
  EXPECT_NE(format_progress_line(p, true, 120).find("412 tok/s MFU 12.3% ETA ?"), std::string::npos);
}

TEST(TrainProgress, PlainLinesWhenNotATerminal) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    ProgressDisplay d(5, f, 2);  // a tmpfile is no terminal
    for (int64_t s = 1; s <= 5; ++s) {
      d.update(s, 3.0 - 0.1 * double(s), 1e-4, 100, double(s));
      if (s == 3) d.message("eval loss 2.1");
    }
    d.finish();
  }
  const std::string out = read_stream(f);
  std::fclose(f);
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_EQ(out.find("\x1b"), std::string::npos);
  std::istringstream lines(out);
  std::vector<std::string> got;
  for (std::string l; std::getline(lines, l);) got.push_back(l);
  ASSERT_EQ(got.size(), 4u) << out;  // steps 2 and 4 (every 2nd), the message, and the last step 5
  EXPECT_EQ(got[0].rfind("step 2/5 (40%) loss 2.8000", 0), 0u) << got[0];
  EXPECT_EQ(got[1], "eval loss 2.1");
  EXPECT_EQ(got[2].rfind("step 4/5", 0), 0u);
  EXPECT_EQ(got[3].rfind("step 5/5 (100%)", 0), 0u);
}

TEST(TrainProgress, TerminalRedrawsOneLine) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    ProgressDisplay d(3, f, 1, true);
    d.update(1, 2.0, 1e-4, 10, 1);
    d.message("hello");
    d.update(2, 1.9, 1e-4, 10, 2);
  }  // the destructor ends the line
  const std::string out = read_stream(f);
  std::fclose(f);
  EXPECT_EQ(out.rfind("\rstep 1/3", 0), 0u) << out;
  EXPECT_NE(out.find("\r\x1b[Khello\n\rstep 1/3"), std::string::npos) << out;  // message above, bar redrawn
  EXPECT_NE(out.find("\rstep 2/3"), std::string::npos);
  EXPECT_EQ(out.back(), '\n');
}

// Tags open and close in order, attribute values are quoted, and text holds no stray '<' or '>'.
// Hand-rolled rather than std::regex, whose recursive matcher overflows the stack on long inputs.
bool xml_balanced(const std::string& s) {
  std::vector<std::string> stack;
  size_t pos = 0;
  while (true) {
    const size_t open = s.find('<', pos);
    const std::string text = s.substr(pos, open == std::string::npos ? std::string::npos : open - pos);
    if (text.find('>') != std::string::npos) return false;
    if (open == std::string::npos) break;
    size_t i = open + 1;
    const bool closing = i < s.size() && s[i] == '/';
    if (closing) ++i;
    const size_t name_start = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
    const std::string name = s.substr(name_start, i - name_start);
    if (name.empty()) return false;
    while (true) {  // attributes: name="value"
      while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
      if (i >= s.size()) return false;
      if (s[i] == '>' || s[i] == '/') break;
      while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '-' || s[i] == ':')) ++i;
      if (s.compare(i, 2, "=\"") != 0) return false;
      const size_t end = s.find('"', i + 2);
      if (end == std::string::npos || s.substr(i + 2, end - i - 2).find('<') != std::string::npos) return false;
      i = end + 1;
    }
    const bool self_closing = s[i] == '/';
    if (self_closing && (closing || s.compare(i, 2, "/>") != 0)) return false;
    pos = i + (self_closing ? 2 : 1);
    if (closing) {
      if (stack.empty() || stack.back() != name) return false;
      stack.pop_back();
    } else if (!self_closing) {
      stack.push_back(name);
    }
  }
  return stack.empty();
}

// Number of "x,y" pairs in the polyline, 0 when there is none or any pair is malformed.
size_t polyline_points(const std::string& svg) {
  const size_t at = svg.find("<polyline");
  if (at == std::string::npos) return 0;
  const size_t b = svg.find("points=\"", at) + 8, e = svg.find('"', b);
  std::istringstream pts(svg.substr(b, e - b));
  size_t n = 0;
  for (std::string p; pts >> p; ++n) {
    const size_t comma = p.find(',');
    if (comma == std::string::npos) return 0;
    char* end = nullptr;
    std::strtod(p.c_str(), &end);
    if (end != p.c_str() + comma) return 0;
    std::strtod(p.c_str() + comma + 1, &end);
    if (*end != '\0' || comma + 1 == p.size()) return 0;
  }
  return n;
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(TrainLossPlot, WellFormednessCheckerRejectsBrokenXml) {
  EXPECT_TRUE(xml_balanced("<svg a=\"1\"><g><line x1=\"2\"/></g>text</svg>\n"));
  EXPECT_FALSE(xml_balanced("<svg><g></svg>"));
  EXPECT_FALSE(xml_balanced("<svg a=1></svg>"));
  EXPECT_FALSE(xml_balanced("<svg>a > b</svg>"));
  EXPECT_FALSE(xml_balanced("<svg><text>a<b</text></svg>"));
  EXPECT_FALSE(xml_balanced("<svg>"));
}

TEST(TrainLossPlot, WellFormedSvg) {
  std::vector<LossPoint> train, eval;
  for (int64_t s = 1; s <= 50; ++s) train.push_back({s, 3.0 * std::exp(-0.03 * double(s)) + 0.5});
  train.push_back({51, NAN});  // skipped
  eval = {{10, 2.5}, {30, 1.8}, {50, 1.4}};
  LossPlotOptions o;
  o.title = "run <1> & \"friends\"";
  const std::string svg = loss_plot_svg(train, eval, o);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_TRUE(xml_balanced(svg)) << svg;
  EXPECT_EQ(count(svg, "<polyline"), 1u);
  EXPECT_EQ(polyline_points(svg), 50u);
  EXPECT_EQ(count(svg, "<circle"), 4u);  // 3 eval points + the legend's
  EXPECT_NE(svg.find("run &lt;1&gt; &amp; &quot;friends&quot;"), std::string::npos);
  EXPECT_NE(svg.find(">optimizer step</text>"), std::string::npos);
  EXPECT_NE(svg.find(">loss</text>"), std::string::npos);
  EXPECT_GE(count(svg, "text-anchor=\"middle\">"), 5u);  // x tick labels among them
  EXPECT_NE(svg.find(">50</text>"), std::string::npos);  // the last step is a labelled tick

  // Long runs are averaged down; no data still gives a valid picture.
  std::vector<LossPoint> long_run;
  for (int64_t s = 1; s <= 5000; ++s) long_run.push_back({s, 1.0 + 1.0 / double(s)});
  const std::string big = loss_plot_svg(long_run, {});
  EXPECT_EQ(polyline_points(big), 2000u);
  EXPECT_TRUE(xml_balanced(big));
  const std::string empty = loss_plot_svg({}, {});
  EXPECT_TRUE(xml_balanced(empty));
  EXPECT_EQ(count(empty, "<polyline"), 0u);
  const std::vector<LossPoint> one = {{1, 2.0}};
  EXPECT_TRUE(xml_balanced(loss_plot_svg(one, one)));
}

TEST(TrainLossPlot, WrittenToFile) {
  const fs::path dir = temp_dir();
  const std::vector<LossPoint> train = {{1, 2.0}, {2, 1.5}, {3, 1.2}};
  write_loss_plot((dir / "loss.svg").string(), train, {});
  std::ifstream in(dir / "loss.svg");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), loss_plot_svg(train, {}));
  fs::remove_all(dir);
}

TEST(PeakRss, ReadsProcStatus) {
  const MemoryUsage before = process_memory_usage();
  ASSERT_GT(before.rss_bytes, 0);
  EXPECT_GE(before.peak_rss_bytes, before.rss_bytes);
  {
    std::vector<char> block(size_t{96} << 20);
    for (size_t i = 0; i < block.size(); i += 4096) block[i] = 1;  // touch every page
    asm volatile("" : : "r"(block.data()) : "memory");             // and keep the compiler from eliding it
    EXPECT_GE(current_rss_bytes(), before.rss_bytes + (int64_t{80} << 20));
  }
  EXPECT_GE(peak_rss_bytes(), before.rss_bytes + (int64_t{80} << 20));
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(int64_t{3} << 20), "3.00 MiB");
  EXPECT_EQ(format_bytes(int64_t{1536} << 20), "1.50 GiB");
  EXPECT_EQ(format_bytes(int64_t{200} << 20), "200.0 MiB");
}

}  // namespace
}  // namespace frugal
