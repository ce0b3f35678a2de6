// The study engine with a fake trial runner: grid order, best trial per batch, ties, edge flags,
// seed reduction, and identical results whatever the thread count.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

#include "experiments/engine/study_engine.h"

using namespace batchlab::experiments;

namespace {

StudyGrid small_grid() {
  StudyGrid g;
  g.study = "t";
  g.landscape = "fake";
  g.optimizers = {{"sgd", {0.0}, {0.0}}, {"momentum", {0.5, 0.9}, {0.0}}};
  g.batch_sizes = {4, 16, 64};
  g.lr_grid = {0.01, 0.1, 1.0, 10.0};
  g.seeds = {0, 1, 2};
  return g;
}

// Steps = a bowl in log lr whose optimum moves with B; momentum 0.9 halves the steps.
TrialOutcome bowl(const TrialPoint& p) {
  TrialOutcome o;
  const double best_log_lr = std::log10(static_cast<double>(p.batch_size)) - 2.0;  // 0.04, 0.16, 0.64
  const double d = std::log10(p.lr) - best_log_lr;
  if (d > 1.5) {
    o.status = TrialStatus::kDiverged;
    return o;
  }
  o.status = TrialStatus::kReached;
  o.steps_to_target = static_cast<std::int64_t>(1000.0 * (1.0 + d * d) / (p.momentum > 0.8 ? 2.0 : 1.0)) + static_cast<std::int64_t>(p.seed);
  o.final_metric = 0.01 * static_cast<double>(p.seed + 1);
  return o;
}

std::vector<std::string> run_collect(const StudyGrid& g, int threads, const TrialRunner& runner) {
  std::vector<std::string> rows;
  run_trials(
      g, 0, runner,
      [&](const TrialPoint& p, TrialOutcome&& o) {
        rows.push_back(std::to_string(p.trial_id) + " " + p.optimizer + " " + std::to_string(p.batch_size) + " " +
                       std::to_string(p.lr) + " " + std::to_string(p.momentum) + " " + std::to_string(p.seed) + " " +
                       to_string(o.status) + " " + std::to_string(o.steps_to_target));
      },
      {.threads = threads, .window = 8});
  return rows;
}

}  // namespace

TEST(StudyGrid, SizeIsTheProductOfAxesPerOptimizer) {
  const StudyGrid g = small_grid();
  EXPECT_EQ(g.size(), 3 * 4 * 1 * 3 + 3 * 4 * 2 * 3);
}

TEST(StudyGrid, SeedsAreInnermostThenMomentumThenLrThenBatch) {
  const StudyGrid g = small_grid();
  const TrialPoint a = g.point(0), b = g.point(1), c = g.point(3), d = g.point(12);
  EXPECT_EQ(a.seed, 0u);
  EXPECT_EQ(b.seed, 1u);
  EXPECT_EQ(c.lr, 0.1);
  EXPECT_EQ(d.batch_size, 16);
  const TrialPoint m = g.point(36);  // first momentum trial
  EXPECT_EQ(m.optimizer, "momentum");
  EXPECT_EQ(m.momentum, 0.5);
  EXPECT_EQ(g.point(39).momentum, 0.9);
  EXPECT_EQ(g.point(42).lr, 0.1);
  const TrialPoint last = g.point(g.size() - 1);
  EXPECT_EQ(last.optimizer, "momentum");
  EXPECT_EQ(last.batch_size, 64);
  EXPECT_EQ(last.lr, 10.0);
  EXPECT_EQ(last.momentum, 0.9);
  EXPECT_EQ(last.seed, 2u);
  EXPECT_THROW(g.point(g.size()), std::out_of_range);
  for (std::int64_t i = 0; i < g.size(); ++i) EXPECT_EQ(g.point(i).trial_id, i);
}

TEST(StudyGrid, ScaledGridMultipliesTheScalingRulesLr) {
  StudyGrid g = small_grid();
  g.lr_grid = {0.5, 1.0, 2.0};
  g.lr_scaled = true;
  g.scaled_lr = {0.1, 0.4, 1.6};
  const TrialPoint p = g.point(1 * 3 * 3 + 2 * 3);  // sgd, B = 16, multiplier 2
  EXPECT_EQ(p.batch_size, 16);
  EXPECT_DOUBLE_EQ(p.lr_multiplier, 2.0);
  EXPECT_DOUBLE_EQ(p.lr, 0.8);
}

// examples_to_target (trials.csv, steps_vs_batch.csv, curves.csv) comes from StudyGrid::examples:
// steps x B without a batch schedule, the schedule's running sum with one.
TEST(StudyGrid, ExamplesFollowTheBatchSchedule) {
  StudyGrid g;
  EXPECT_DOUBLE_EQ(g.examples(64, 10.0), 640.0);
  g.batch_schedule = {{128000, 256000}, 5.0, 0};
  EXPECT_DOUBLE_EQ(g.examples(64, 2000.0), 128000.0);
  EXPECT_DOUBLE_EQ(g.examples(64, 2480.0), 384000.0);
  EXPECT_DOUBLE_EQ(g.examples(64, 2001.5), 128480.0);  // a median between two seeds
  g.batch_multiple = 7;  // phases round to multiples of the workers: 64 x 5 = 320 -> 322
  EXPECT_DOUBLE_EQ(g.examples(64, 2001.0), 128322.0);
}

TEST(StudyEngine, ResultsAreIdenticalForOneAndManyThreads) {
  const StudyGrid g = small_grid();
  // A runner whose duration varies, so threads finish out of order.
  const TrialRunner slow_bowl = [](const TrialPoint& p) {
    std::this_thread::sleep_for(std::chrono::microseconds(50 * ((p.trial_id * 7919) % 13)));
    return bowl(p);
  };
  const auto one = run_collect(g, 1, slow_bowl);
  const auto four = run_collect(g, 4, slow_bowl);
  ASSERT_EQ(one.size(), static_cast<std::size_t>(g.size()));
  EXPECT_EQ(one, four);
}

TEST(StudyEngine, RunsTrialsInParallel) {
  StudyGrid g = small_grid();
  std::atomic<int> running{0}, peak{0};
  const TrialRunner r = [&](const TrialPoint& p) {
    const int now = ++running;
    int old = peak.load();
    while (now > old && !peak.compare_exchange_weak(old, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    --running;
    return bowl(p);
  };
  run_collect(g, 3, r);
  EXPECT_GE(peak.load(), 2);
}

TEST(StudyEngine, RunnerExceptionStopsTheStudyAndIsRethrown) {
  const StudyGrid g = small_grid();
  std::atomic<int> calls{0};
  const TrialRunner r = [&](const TrialPoint& p) -> TrialOutcome {
    ++calls;
    if (p.trial_id == 10) throw std::runtime_error("boom at 10");
    return bowl(p);
  };
  std::vector<std::int64_t> seen;
  EXPECT_THROW(run_trials(g, 0, r, [&](const TrialPoint& p, TrialOutcome&&) { seen.push_back(p.trial_id); },
                          {.threads = 2, .window = 4}),
               std::runtime_error);
  // Only trials before the failure reach the sink, in order; the window bounds the work done.
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<std::int64_t>(i));
  EXPECT_LE(seen.size(), 10u);
  EXPECT_LT(calls.load(), 10 + 4 + 2 + 1);
}

TEST(StudyEngine, StartsAtTheFirstUnfinishedTrial) {
  const StudyGrid g = small_grid();
  std::vector<std::int64_t> seen;
  run_trials(g, g.size() - 5, bowl, [&](const TrialPoint& p, TrialOutcome&&) { seen.push_back(p.trial_id); },
             {.threads = 2});
  EXPECT_EQ(seen, (std::vector<std::int64_t>{g.size() - 5, g.size() - 4, g.size() - 3, g.size() - 2, g.size() - 1}));
}

TEST(BestTracker, PicksFewestMedianStepsPerBatchAndFlagsTheGridEdge) {
  const StudyGrid g = small_grid();
  BestTracker t(g);
  run_trials(g, 0, bowl, [&](const TrialPoint& p, TrialOutcome&& o) { t.add(p, o); }, {.threads = 2});
  // sgd: optimum lr 0.04 (B=4) -> grid 0.01 (d=-0.6) vs 0.1 (d=0.4): 0.1 wins, interior.
  const auto& sgd = t.best(0);
  EXPECT_EQ(sgd[0].lr, 0.1);
  EXPECT_FALSE(sgd[0].lr_on_edge);
  // median over seeds 0,1,2 of 1000(1+d^2)+seed = value of seed 1
  EXPECT_DOUBLE_EQ(sgd[0].steps, std::floor(1000.0 * (1.0 + std::pow(std::log10(0.1) - std::log10(0.04), 2))) + 1);
  EXPECT_DOUBLE_EQ(sgd[0].final_metric, 0.02);
  EXPECT_EQ(sgd[0].seeds_reached, 3);
  EXPECT_EQ(sgd[0].status, TrialStatus::kReached);
  // B=64: optimum 0.64 -> 1.0 (d=0.19) beats 0.1 (d=-0.81): 1.0 is interior (10 is the edge).
  EXPECT_EQ(sgd[2].lr, 1.0);
  // momentum 0.9 halves the steps, so it wins over 0.5 at every batch size.
  for (const auto& b : t.best(1)) EXPECT_EQ(b.momentum, 0.9);
  // lr 10 diverges at B = 4 and 16 (d > 1.5): 3 seeds x (1 sgd + 2 momentum) x 2 batch sizes.
  EXPECT_EQ(t.count(TrialStatus::kDiverged), 18);
}

TEST(BestTracker, EdgeFlagWhenTheBestLrIsTheLargestOrSmallest) {
  StudyGrid g = small_grid();
  g.lr_grid = {0.001, 0.002, 0.004};  // every optimum lies above this grid
  BestTracker t(g);
  run_trials(g, 0, bowl, [&](const TrialPoint& p, TrialOutcome&& o) { t.add(p, o); }, {.threads = 1});
  for (const auto& b : t.best(0)) {
    EXPECT_EQ(b.lr, 0.004);
    EXPECT_TRUE(b.lr_on_edge);
  }
}

TEST(BestTracker, TiesGoToTheSmallerLr) {
  StudyGrid g = small_grid();
  g.seeds = {0};
  const TrialRunner flat = [](const TrialPoint&) {
    TrialOutcome o;
    o.status = TrialStatus::kReached;
    o.steps_to_target = 42;
    return o;
  };
  BestTracker t(g);
  run_trials(g, 0, flat, [&](const TrialPoint& p, TrialOutcome&& o) { t.add(p, o); }, {.threads = 3});
  for (const auto& b : t.best(0)) EXPECT_EQ(b.lr, 0.01);
  for (const auto& b : t.best(1)) EXPECT_EQ(b.momentum, 0.5);
}

TEST(BestTracker, APointReachesOnlyWhenMostSeedsReach) {
  StudyGrid g;
  g.optimizers = {{"sgd", {0.0}, {0.0}}};
  g.batch_sizes = {8};
  g.lr_grid = {0.1, 0.2};
  g.seeds = {0, 1, 2};
  // lr 0.1: seeds reach in 100, 100, never -> median 100.  lr 0.2: 50, never, never -> median inf.
  const TrialRunner r = [](const TrialPoint& p) {
    TrialOutcome o;
    const bool reach = p.lr == 0.1 ? p.seed < 2 : p.seed == 0;
    o.status = reach ? TrialStatus::kReached : TrialStatus::kNotReached;
    o.steps_to_target = reach ? (p.lr == 0.1 ? 100 : 50) : -1;
    return o;
  };
  BestTracker t(g);
  run_trials(g, 0, r, [&](const TrialPoint& p, TrialOutcome&& o) { t.add(p, o); }, {.threads = 1});
  EXPECT_EQ(t.best(0)[0].lr, 0.1);
  EXPECT_DOUBLE_EQ(t.best(0)[0].steps, 100.0);
  EXPECT_EQ(t.best(0)[0].seeds_reached, 2);
}

TEST(BestTracker, ABatchWhereEveryTrialDivergedIsDiverged) {
  StudyGrid g = small_grid();
  const TrialRunner boom = [](const TrialPoint&) {
    TrialOutcome o;
    o.status = TrialStatus::kDiverged;
    return o;
  };
  BestTracker t(g);
  run_trials(g, 0, boom, [&](const TrialPoint& p, TrialOutcome&& o) { t.add(p, o); }, {.threads = 1});
  EXPECT_EQ(t.best(0)[1].status, TrialStatus::kDiverged);
  EXPECT_TRUE(std::isinf(t.best(0)[1].steps));
  EXPECT_EQ(t.count(TrialStatus::kDiverged), g.size());
}

TEST(BestTracker, FailedTrialsAreLeftOutOfTheSeedMedianAndTheBest) {
  StudyGrid g;
  g.optimizers = {{"sgd", {0.0}, {0.0}}};
  g.batch_sizes = {8, 16};
  g.lr_grid = {0.1, 0.2};
  g.seeds = {0, 1, 2};
  // B 8, lr 0.1: seeds reach in 100, fail, 120 -> median over the two that ran, 110 (a failed seed
  // counted as "never" would give 120). lr 0.2: every seed failed, although a failed trial's
  // steps_to_target says 1: never a candidate. B 16: every trial failed -> status failed.
  const TrialRunner r = [](const TrialPoint& p) {
    TrialOutcome o;
    if (p.batch_size == 16 || p.lr == 0.2 || p.seed == 1) {
      o.status = TrialStatus::kFailed;
      o.steps_to_target = 1;
      return o;
    }
    o.status = TrialStatus::kReached;
    o.steps_to_target = p.seed == 0 ? 100 : 120;
    return o;
  };
  BestTracker t(g);
  run_trials(g, 0, r, [&](const TrialPoint& p, TrialOutcome&& o) { t.add(p, o); }, {.threads = 2});
  const BatchBest& b8 = t.best(0)[0];
  EXPECT_EQ(b8.status, TrialStatus::kReached);
  EXPECT_EQ(b8.lr, 0.1);
  EXPECT_DOUBLE_EQ(b8.steps, 110.0);
  EXPECT_EQ(b8.seeds_reached, 2);
  EXPECT_EQ(b8.trials, 2);
  EXPECT_EQ(b8.trials_failed, 4);
  const BatchBest& b16 = t.best(0)[1];
  EXPECT_EQ(b16.status, TrialStatus::kFailed);
  EXPECT_TRUE(std::isinf(b16.steps));
  EXPECT_EQ(b16.lr_index, -1);
  EXPECT_EQ(t.count(TrialStatus::kFailed), 10);
  EXPECT_EQ(t.count(TrialStatus::kReached), 2);
}

TEST(Median, EvenCountsAverageAndInfinityDominates) {
  EXPECT_DOUBLE_EQ(median({3, 1, 2}), 2.0);
  EXPECT_DOUBLE_EQ(median({4, 1, 2, 3}), 2.5);
  EXPECT_TRUE(std::isinf(median({1, INFINITY})));
  EXPECT_DOUBLE_EQ(median({1, 2, INFINITY}), 2.0);
}
