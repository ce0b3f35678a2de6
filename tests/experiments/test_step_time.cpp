// The step-time model (experiments/engine/step_time.h): the fit recovers planted coefficients,
// profile.json reads back what was written and refuses bad files by key, and the time of a run
// under each sync policy equals the hand-computed sum of compute, exposed communication,
// averaging rounds and exposed data time.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "experiments/engine/step_time.h"
#include "optim/sync_policy.h"
#include "step_profile_fixture.h"

using namespace batchlab::experiments;
using batchlab::optim::SyncPolicy;

using batchlab::experiments::fixtures::planted;

namespace {
StepTimeProfile profile() { return batchlab::experiments::fixtures::round_profile(); }
}  // namespace

TEST(StepTimeFit, RecoversPlantedAlphaAndBetaExactly) {
  std::vector<TimedPoint> pts;
  for (double b : {8.0, 16.0, 32.0, 64.0, 128.0, 256.0}) pts.push_back({b, 1.5e-3 + 2.5e-5 * b});
  const LinearFit f = fit_linear(pts);
  EXPECT_NEAR(f.alpha, 1.5e-3, 1e-15);
  EXPECT_NEAR(f.beta, 2.5e-5, 1e-17);
  EXPECT_LT(f.rms_rel_error, 1e-12);
  EXPECT_EQ(f.x_min, 8.0);
  EXPECT_EQ(f.x_max, 256.0);
  EXPECT_EQ(f.points.size(), 6u);
}

TEST(StepTimeFit, RecoversPlantedAllreduceLatencyUnderNoiseAcrossDecades) {
  // Message sizes 1 KB .. 64 MB: with relative weights the 20 us latency is still recovered,
  // which an unweighted fit dominated by the 64 MB point would not do.
  std::vector<TimedPoint> pts;
  const double noise[] = {0.01, -0.012, 0.008, -0.005, 0.011, -0.009, 0.004, -0.01, 0.006};
  int i = 0;
  for (double n = 1024; n <= 64e6; n *= 4, ++i) pts.push_back({n, (20e-6 + 2e-10 * n) * (1 + noise[i % 9])});
  const LinearFit f = fit_linear(pts);
  EXPECT_NEAR(f.alpha / 20e-6, 1.0, 0.03);
  EXPECT_NEAR(f.beta / 2e-10, 1.0, 0.03);
  EXPECT_GT(f.rms_rel_error, 0.003);
  EXPECT_LT(f.rms_rel_error, 0.012);
}

TEST(StepTimeFit, NoisePushingACoefficientBelowZeroGivesZeroNotANegativeCost) {
  // Two noisy points where the time falls with the batch: a constant, the weighted mean.
  const LinearFit flat = fit_linear({{4, 1.0e-3}, {8, 0.9e-3}});
  EXPECT_EQ(flat.beta, 0.0);
  const double w1 = 1 / (1e-6), w2 = 1 / (0.81e-6);
  EXPECT_NEAR(flat.alpha, (w1 * 1.0e-3 + w2 * 0.9e-3) / (w1 + w2), 1e-15);
  // Steeper than proportional: no negative fixed cost, a line through 0.
  const LinearFit prop = fit_linear({{10, 1e-3}, {20, 3e-3}});
  EXPECT_EQ(prop.alpha, 0.0);
  EXPECT_GT(prop.beta, 0.0);
}

TEST(StepTimeFit, NeedsTwoDistinctSizesAndPositiveTimes) {
  EXPECT_THROW(fit_linear({{8, 1e-3}, {8, 1.1e-3}}), std::invalid_argument);
  EXPECT_THROW(fit_linear({{8, 1e-3}, {16, 0.0}}), std::invalid_argument);
}

TEST(StepTimeProfileJson, ReadsBackWhatItWrites) {
  StepTimeProfile p = profile();
  p.compute[0].step.points = {{8, 2.8e-3}, {512, 53.2e-3}};
  p.sync.points = {{64, 0.009, 0.01}};
  const StepTimeProfile q = profile_from_json(profile_to_json(p), "mem");
  EXPECT_EQ(q.model, "mlp");
  EXPECT_EQ(q.parameters, 1'000'000);
  EXPECT_EQ(q.gradient_buckets, 2);
  ASSERT_EQ(q.compute.size(), 2u);
  EXPECT_EQ(q.compute[1].ranks, 2);
  EXPECT_DOUBLE_EQ(q.compute[1].step.beta, 1.2e-4);
  EXPECT_EQ(q.compute[0].step.points.size(), 2u);
  EXPECT_DOUBLE_EQ(q.allreduce[0].time.alpha, 50e-6);
  EXPECT_DOUBLE_EQ(q.allreduce[0].time.x_max, 64e6);
  EXPECT_DOUBLE_EQ(q.sync.overlap, 0.25);
  EXPECT_EQ(q.sync.ranks, 2);
  EXPECT_DOUBLE_EQ(q.sync.points[0].blocking_step_s, 0.01);
  EXPECT_TRUE(q.has_data);
  EXPECT_DOUBLE_EQ(q.data.beta, 1e-5);
}

TEST(StepTimeProfileJson, RefusesBadFilesNamingTheKey) {
  auto error_of = [](const nlohmann::json& j) {
    try {
      profile_from_json(j, "p.json");
    } catch (const ProfileError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const nlohmann::json good = profile_to_json(profile());
  nlohmann::json j = good;
  j.erase("parameters");
  EXPECT_EQ(error_of(j), "p.json: parameters is missing");
  j = good;
  j["compute"][1]["beta_s_per_example"] = -1.0;
  EXPECT_EQ(error_of(j), "p.json: compute[1].beta_s_per_example = -1.0: must be >= 0");
  j = good;
  j["compute"][1]["alpha_s"] = -1.0;
  EXPECT_EQ(error_of(j), "p.json: compute[1].alpha_s = -1.0: must be >= 0");
  j = good;
  j["compute"][1]["ranks"] = 1;
  EXPECT_EQ(error_of(j), "p.json: compute[1].ranks = 1 appears twice");
  j = good;
  j["schema"] = "other/2";
  EXPECT_NE(error_of(j).find("schema = 'other/2'"), std::string::npos);
  j = good;
  j["allreduce"][0].erase("range");
  EXPECT_NE(error_of(j).find("allreduce[0] has neither range nor points"), std::string::npos);
  j = good;
  j["compute"] = nlohmann::json::array();
  EXPECT_NE(error_of(j).find("compute is empty"), std::string::npos);
}

TEST(StepTimeModel, OneWorkerIsComputeOrDataWhicheverIsSlower) {
  const StepTimeModel m(profile());
  const RunTime r = m.run_time(100, 1, SyncPolicy::parse("sync"), 1000);
  // T_c(100) = 2 ms + 10 ms = 12 ms; T_d(100) = 1 ms: hidden.
  EXPECT_NEAR(r.total_s, 1000 * 12e-3, 1e-12);
  EXPECT_EQ(r.comm_s, 0.0);
  EXPECT_EQ(r.data_s, 0.0);
  EXPECT_EQ(r.gradient_allreduces, 0);
  EXPECT_TRUE(r.extrapolated.empty());
  // A loader slower than compute: T_d(100) = 15 ms > 12 ms, the step waits 3 ms for data.
  StepTimeProfile slow = profile();
  slow.data = planted(0.0, 1.5e-4, 8, 512);
  const RunTime s = StepTimeModel(slow).run_time(100, 1, SyncPolicy::parse("sync"), 1000);
  EXPECT_NEAR(s.total_s, 1000 * 15e-3, 1e-12);
  EXPECT_NEAR(s.data_s, 1000 * 3e-3, 1e-12);
}

TEST(StepTimeModel, SyncStepAddsTheExposedPartOfTheBucketedGradientAllreduce) {
  const StepTimeModel m(profile());
  const RunTime r = m.run_time(100, 2, SyncPolicy::parse("sync"), 1000);
  // T_c = 3 ms + 12 ms = 15 ms (2 ranks busy); T_grad = 2 x 50 us + 4e6 B x 1 ns = 4.1 ms;
  // 75% exposed: 3.075 ms per step.
  EXPECT_NEAR(r.compute_s, 15.0, 1e-9);
  EXPECT_NEAR(r.comm_s, 1000 * 0.75 * 4.1e-3, 1e-9);
  EXPECT_NEAR(r.total_s, 1000 * (15e-3 + 3.075e-3), 1e-9);
  EXPECT_NEAR(r.step_s(), 18.075e-3, 1e-12);
  EXPECT_EQ(r.gradient_allreduces, 1000);
  EXPECT_TRUE(r.extrapolated.empty());
}

TEST(StepTimeFit, OverlapIsTheMeanHiddenFractionOfTheGradientAllreduce) {
  // T_grad = 4 ms; the all-reduce after backward costs it in full, the bucketed one hides 1.2 ms
  // (30%) at every b but one, where noise makes it 2 ms (50%).
  std::vector<SyncPoint> pts;
  for (double tc : {5e-3, 12e-3, 40e-3}) pts.push_back({0.0, tc + 2.8e-3, tc + 4e-3});
  pts.push_back({0.0, 90e-3 + 2e-3, 90e-3 + 4e-3});
  const SyncOverhead o = fit_sync_overhead(pts, 4e-3, 2);
  EXPECT_NEAR(o.overlap, (3 * 0.3 + 0.5) / 4, 1e-9);
  EXPECT_NEAR(o.overlap_error, 0.1, 1e-9);  // sample std of 0.3, 0.3, 0.3, 0.5
  EXPECT_EQ(o.ranks, 2);
  // More than everything hidden, or a blocking path faster than the overlapped one, is noise.
  EXPECT_EQ(fit_sync_overhead({{0, 5e-3, 10e-3}}, 4e-3, 2).overlap, 1.0);
  EXPECT_EQ(fit_sync_overhead({{0, 10e-3, 5e-3}}, 4e-3, 2).overlap, 0.0);
  EXPECT_THROW(fit_sync_overhead({}, 4e-3, 2), std::invalid_argument);
}

TEST(StepTimeModel, TheSyncEntryAtTheMeasuredRanksGivesBackTheMeasuredSynchronousUpdate) {
  // As bench-step builds it: the K-rank compute entry is T_sync - (1 - phi) T_grad, so the
  // model's synchronous update T_c + (1 - phi) T_grad is T_sync again, whatever phi is.
  StepTimeProfile p = profile();
  const double t_grad = 2 * 50e-6 + 1e-9 * 4e6;  // 4.1 ms
  const double sync = 31e-3, blocking = 32e-3;   // phi = 0.24
  p.sync = fit_sync_overhead({{100, sync, blocking}}, t_grad, 2);
  p.compute[1].step = planted(sync - (1 - p.sync.overlap) * t_grad, 0.0, 8, 512);
  EXPECT_NEAR(StepTimeModel(p).run_time(100, 2, SyncPolicy::parse("sync"), 1).total_s, sync, 1e-12);
  // Measured at 2 ranks: at 4 it is taken as is, and said to be.
  const std::vector<std::string> notes = StepTimeModel(p).run_time(100, 4, SyncPolicy::parse("sync"), 10).extrapolated;
  EXPECT_NE(std::find(notes.begin(), notes.end(), "sync_ranks"), notes.end());
}

TEST(StepTimeModel, LocalSgdPaysOneBlockingParameterAverageEveryHSteps) {
  const StepTimeModel m(profile());
  const RunTime r = m.run_time(100, 2, SyncPolicy::parse("local:10"), 1000);
  // 100 rounds of 10 messages (one per tensor) of 4e6 bytes in all: 10 x 50 us + 4 ms = 4.5 ms.
  EXPECT_EQ(r.gradient_allreduces, 0);
  EXPECT_EQ(r.averaging_rounds_global, 100);
  EXPECT_NEAR(r.comm_s, 100 * 4.5e-3, 1e-12);
  EXPECT_NEAR(r.total_s, 1000 * 15e-3 + 100 * 4.5e-3, 1e-9);
  // The rounds local SGD saves against sync: 1000 gradient all-reduces -> 100 averages.
  const RunTime s = m.run_time(100, 2, SyncPolicy::parse("sync"), 1000);
  EXPECT_NEAR(s.comm_s - r.comm_s, 1000 * 3.075e-3 - 100 * 4.5e-3, 1e-9);
  // Averaging momentum too doubles the bytes and the messages: 20 x 50 us + 8 ms = 9 ms.
  const RunTime mom = m.run_time(100, 2, SyncPolicy::parse("local:10", true), 1000);
  EXPECT_NEAR(mom.comm_s, 100 * 9e-3, 1e-12);
}

TEST(StepTimeModel, PostLocalSgdIsSyncBeforeT0AndLocalAfter) {
  const StepTimeModel m(profile());
  const RunTime r = m.run_time(100, 2, SyncPolicy::parse("post-local:10@40"), 100);
  // 40 sync updates, then averages after 50, 60, ..., 100 updates: 6 rounds.
  EXPECT_EQ(r.gradient_allreduces, 40);
  EXPECT_EQ(r.averaging_rounds_global, 6);
  EXPECT_NEAR(r.total_s, 100 * 15e-3 + 40 * 3.075e-3 + 6 * 4.5e-3, 1e-12);
}

TEST(StepTimeModel, HierarchicalAveragesWithinANodeAndAcrossNodes) {
  StepTimeProfile p = profile();
  p.allreduce.push_back({4, planted(100e-6, 1.5e-9, 1e3, 64e6)});
  const RunTime r = StepTimeModel(p).run_time(100, 4, SyncPolicy::parse("hier:2:3"), 60);
  // Node rounds (2 devices per node, the 2-rank entry): after 2, 4, 8, 10, ... (not 6, 12, ...
  // which are global): 20 node + 10 global rounds.
  EXPECT_EQ(r.averaging_rounds_node, 20);
  EXPECT_EQ(r.averaging_rounds_global, 10);
  EXPECT_NEAR(r.comm_s, 20 * 4.5e-3 + 10 * (10 * 100e-6 + 1.5e-9 * 4e6), 1e-12);
}

TEST(StepTimeModel, OtherWorldSizesScaleAsARingAndAreMarked) {
  const StepTimeModel m(profile());
  std::vector<std::string> notes;
  // Measured at 2 ranks; at 8: latency x (8 - 1) / (2 - 1), bandwidth term x (7/8) / (1/2).
  const double t = m.allreduce_s(4e6, 2, 8, notes);
  EXPECT_NEAR(t, 2 * 50e-6 * 7 + 1e-9 * 1.75 * 4e6, 1e-15);
  EXPECT_EQ(notes, std::vector<std::string>{"allreduce_ranks"});
  notes.clear();
  EXPECT_EQ(m.allreduce_s(4e6, 2, 1, notes), 0.0);  // one rank communicates nothing
  EXPECT_TRUE(notes.empty());
}

TEST(StepTimeModel, ComputeUsesTheEntryOfTheBusyRanksPerNodeAndMarksTheRest) {
  const StepTimeModel m(profile());
  std::vector<std::string> notes;
  EXPECT_NEAR(m.compute_s(100, 1, notes), 12e-3, 1e-15);
  EXPECT_NEAR(m.compute_s(100, 2, notes), 15e-3, 1e-15);
  EXPECT_NEAR(m.compute_s(100, 64, notes), 15e-3, 1e-15);  // 2 devices per node: 2 busy
  EXPECT_TRUE(notes.empty());
  m.compute_s(1024, 2, notes);
  EXPECT_EQ(notes, std::vector<std::string>{"local_batch"});
  StepTimeProfile wide = profile();
  wide.devices_per_node = 8;
  notes.clear();
  EXPECT_NEAR(StepTimeModel(wide).compute_s(100, 8, notes), 15e-3, 1e-15);
  EXPECT_EQ(notes, std::vector<std::string>{"compute_ranks"});
}

TEST(StepTimeModel, RefusesToPriceWorkersWithoutAnAllreduceEntry) {
  StepTimeProfile p = profile();
  p.allreduce.clear();
  const StepTimeModel m(p);
  EXPECT_NO_THROW(m.run_time(100, 1, SyncPolicy::parse("sync"), 10));
  EXPECT_THROW(m.run_time(100, 2, SyncPolicy::parse("sync"), 10), ProfileError);
}

TEST(StepTimeModel, ComputeBetweenMeasuredBatchesIsTheLineThroughTheNeighboursNotTheFit) {
  // A CPU update that is not linear in b (caches): 1 ms at 32, 4 ms at 64, 5 ms at 128, 40 ms
  // at 256. One line through all four misses every point; the model must give the measured
  // point at a measured b, the chord between neighbours in between, and the fit outside
  // (marked as extrapolated).
  StepTimeProfile p = profile();
  p.compute.resize(1);
  p.compute[0].step = fit_linear({{32, 1e-3}, {64, 4e-3}, {128, 5e-3}, {256, 40e-3}});
  const LinearFit& f = p.compute[0].step;
  ASSERT_GT(std::abs(f.at(64) - 4e-3), 1e-4);  // the fit alone would be wrong there
  const StepTimeModel m(p);
  std::vector<std::string> notes;
  EXPECT_NEAR(m.compute_s(64, 1, notes), 4e-3, 1e-15);
  EXPECT_NEAR(m.compute_s(256, 1, notes), 40e-3, 1e-15);
  EXPECT_NEAR(m.compute_s(96, 1, notes), 4.5e-3, 1e-15);   // halfway between 64 and 128
  EXPECT_NEAR(m.compute_s(192, 1, notes), 22.5e-3, 1e-15); // halfway between 128 and 256
  EXPECT_TRUE(notes.empty());
  EXPECT_NEAR(m.compute_s(512, 1, notes), f.at(512), 1e-15);  // beyond the points: the fit
  EXPECT_EQ(notes, std::vector<std::string>{"local_batch"});
  // A hand-written entry (a range, no points) is the line everywhere.
  p.compute[0].step.points.clear();
  EXPECT_NEAR(StepTimeModel(p).compute_s(64, 1, notes), f.at(64), 1e-15);
}
