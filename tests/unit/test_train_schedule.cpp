// Learning-rate schedules against transformers (tests/fixtures/train/schedule.json, from
// tests/reference/make_schedule_fixture.py): the same doubles, not merely close ones.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "test_paths.h"
#include "train/schedule.h"

namespace frugal {
namespace {

TEST(TrainSchedule, MatchesTransformersExactly) {
  std::ifstream in(test::fixture("train/schedule.json"));
  ASSERT_TRUE(in) << "missing tests/fixtures/train/schedule.json";
  const nlohmann::json j = nlohmann::json::parse(in);
  size_t checked = 0;
  for (const auto& c : j["cases"]) {
    LrScheduleParams p;
    p.schedule = parse_lr_schedule(c["schedule"].get<std::string>());
    p.peak_lr = c["peak_lr"].get<double>();
    p.warmup_steps = c["warmup_steps"].get<int64_t>();
    p.total_steps = c["total_steps"].get<int64_t>();
    const auto& rates = c["rates"];
    for (size_t s = 0; s < rates.size(); ++s) {
      EXPECT_EQ(learning_rate_at(p, static_cast<int64_t>(s)), rates[s].get<double>())
          << lr_schedule_name(p.schedule) << " warmup " << p.warmup_steps << " total " << p.total_steps << " step "
          << s;
      ++checked;
    }
  }
  EXPECT_GT(checked, 1000u);
}

TEST(TrainSchedule, ShapeAndNames) {
  LrScheduleParams p{LrSchedule::Cosine, 1.0, 10, 110};
  EXPECT_EQ(lr_multiplier(p, 0), 0.0);  // transformers' first warmup update runs at lr 0
  EXPECT_EQ(lr_multiplier(p, 5), 0.5);
  EXPECT_EQ(lr_multiplier(p, 10), 1.0);
  EXPECT_NEAR(lr_multiplier(p, 60), 0.5, 1e-15);
  EXPECT_EQ(lr_multiplier(p, 110), 0.0);
  EXPECT_GT(lr_multiplier(p, 200), 0.0);  // transformers' cosine rises again past the end; so does ours
  EXPECT_EQ(parse_lr_schedule("linear"), LrSchedule::Linear);
  EXPECT_STREQ(lr_schedule_name(LrSchedule::Constant), "constant");
  EXPECT_THROW(parse_lr_schedule("step"), Error);
}

}  // namespace
}  // namespace frugal
