// optim::BatchSchedule (Smith et al. 2018 batch growth): phase table, examples counting, rounding
// to the worker count, the cap, and the one-line errors.
#include <gtest/gtest.h>

#include <cmath>

#include "optim/batch_schedule.h"
#include "optim/config.h"

namespace batchlab::optim {
namespace {

TEST(BatchSchedule, ConstantWithoutMilestones) {
  const BatchSchedule s(48, {});
  EXPECT_TRUE(s.constant());
  EXPECT_EQ(s.batch_at(0), 48);
  EXPECT_EQ(s.batch_at(1000000), 48);
  EXPECT_EQ(s.examples_before(std::int64_t{10}), 480);
  EXPECT_DOUBLE_EQ(s.examples_before(2.5), 120.0);
  EXPECT_EQ(s.max_batch(), 48);
}

// Smith et al.'s pattern on the NQM paper config: B = 64, x5 at 128k and 256k examples.
TEST(BatchSchedule, PhasesStartAtTheFirstUpdatePastEachMilestone) {
  const BatchSchedule s(64, {{128000, 256000}, 5.0, 0});
  ASSERT_EQ(s.phases().size(), 3u);
  EXPECT_EQ(s.phases()[1].first_step, 2000);
  EXPECT_EQ(s.phases()[1].examples_before, 128000);
  EXPECT_EQ(s.phases()[1].batch, 320);
  EXPECT_EQ(s.phases()[2].first_step, 2400);
  EXPECT_EQ(s.phases()[2].examples_before, 256000);
  EXPECT_EQ(s.phases()[2].batch, 1600);
  EXPECT_EQ(s.batch_at(1999), 64);
  EXPECT_EQ(s.batch_at(2000), 320);
  EXPECT_EQ(s.batch_at(2399), 320);
  EXPECT_EQ(s.batch_at(2400), 1600);
  EXPECT_EQ(s.examples_before(std::int64_t{2480}), 384000);
  EXPECT_DOUBLE_EQ(s.examples_before(2000.5), 128160.0);
  EXPECT_EQ(s.max_batch(), 1600);
}

TEST(BatchSchedule, MilestoneInsideAStepMovesToTheNextUpdate) {
  // 10 examples per step: 25 examples are passed after 3 updates (30 examples).
  const BatchSchedule s(10, {{25}, 2.0, 0});
  EXPECT_EQ(s.batch_at(2), 10);
  EXPECT_EQ(s.batch_at(3), 20);
  EXPECT_EQ(s.examples_before(std::int64_t{4}), 50);
}

TEST(BatchSchedule, RoundsToWorkersAndCaps) {
  // 6 x 1.5 = 9 -> nearest multiple of 4 is 8; 6 x 2.25 = 13.5 -> 12; x 3.375 = 20.25 -> cap 16.
  const BatchSchedule s(8, {{8, 16, 24}, 1.5, 16}, 4);
  EXPECT_EQ(s.batch_at(0), 8);
  EXPECT_EQ(s.batch_at(1), 12);
  EXPECT_EQ(s.batch_at(2), 16);
  EXPECT_EQ(s.batch_at(3), 16);
  EXPECT_EQ(s.max_batch(), 16);
  // A shrinking factor never goes below one example per worker.
  const BatchSchedule down(4, {{4, 8}, 0.1, 0}, 2);
  EXPECT_EQ(down.batch_at(2), 2);
}

TEST(BatchSchedule, BadSettingsNameTheField) {
  auto msg = [](auto&& f) {
    try {
      f();
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(msg([] { BatchSchedule(64, {{100, 50}, 2.0, 0}); }).find("schedule.batch_milestones"), std::string::npos);
  EXPECT_NE(msg([] { BatchSchedule(64, {{0}, 2.0, 0}); }).find("schedule.batch_milestones"), std::string::npos);
  EXPECT_NE(msg([] { BatchSchedule(64, {{100}, 0.0, 0}); }).find("schedule.batch_factor"), std::string::npos);
  EXPECT_NE(msg([] { BatchSchedule(64, {{100}, 2.0, 32}); }).find("schedule.batch_max = 32"), std::string::npos);
  EXPECT_NE(msg([] { BatchSchedule(0, {}); }).find("batch_size = 0"), std::string::npos);
}

// The closed form per phase against the definition: the first update k with
// examples_before(k) >= examples, for every examples count over three phases.
TEST(BatchSchedule, FirstStepWithExamplesIsTheFirstUpdateWithThatManyDone) {
  BatchScheduleConfig cfg;
  cfg.milestones = {1000, 2500};
  cfg.factor = 3.0;
  const BatchSchedule s(64, cfg, 4);
  ASSERT_EQ(s.phases().size(), 3u);
  EXPECT_EQ(s.first_step_with_examples(0), 0);
  EXPECT_EQ(s.first_step_with_examples(-5), 0);
  std::int64_t k = 0;
  for (std::int64_t examples = 1; examples <= 20000; ++examples) {
    while (s.examples_before(k) < examples) ++k;
    ASSERT_EQ(s.first_step_with_examples(examples), k) << "examples " << examples;
  }
  const BatchSchedule constant(96, BatchScheduleConfig{});
  EXPECT_EQ(constant.first_step_with_examples(960), 10);
  EXPECT_EQ(constant.first_step_with_examples(961), 11);
}

// The lr follows the batch actually used (rounded and capped), per update: linear keeps lr / B
// constant, sqrt keeps lr / sqrt(B) constant, none leaves the lr alone.
TEST(BatchSchedule, LrCouplingFollowsTheRoundedCappedBatch) {
  BatchScheduleConfig cfg;
  cfg.milestones = {640, 2000};
  cfg.factor = 2.5;
  cfg.max_batch = 300;
  for (LrCoupling c : {LrCoupling::kNone, LrCoupling::kLinear, LrCoupling::kSqrt}) {
    cfg.lr_coupling = c;
    const BatchSchedule s(64, cfg, 4);
    ASSERT_EQ(s.phases().size(), 3u);
    EXPECT_EQ(s.phases()[1].batch, 160);
    EXPECT_EQ(s.phases()[2].batch, 300);  // 400 capped
    for (std::int64_t t = 0; t < 40; ++t) {
      const double ratio = static_cast<double>(s.batch_at(t)) / 64.0;
      const double want = c == LrCoupling::kNone ? 1.0 : c == LrCoupling::kLinear ? ratio : std::sqrt(ratio);
      ASSERT_DOUBLE_EQ(s.lr_factor_at(t), want) << to_string(c) << " t " << t;
    }
    EXPECT_EQ(s.lr_factor_at(0), 1.0);
  }
  EXPECT_EQ(parse_lr_coupling("sqrt"), LrCoupling::kSqrt);
  try {
    parse_lr_coupling("cubic");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("schedule.batch_lr_coupling = cubic"), std::string::npos);
  }
}

}  // namespace
}  // namespace batchlab::optim
