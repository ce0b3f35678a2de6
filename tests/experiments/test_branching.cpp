// The branched critical-batch test (experiments/engine/branching.h) on the analytic NQM, where
// the answer is computable: the S(B) bend at the branch point (McCandlish et al.'s B_crit from
// the exact steps to target of the NQM seen from there, tuned lr per batch size).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "experiments/engine/branch_sim.h"
#include "experiments/engine/branching.h"
#include "optim/config.h"
#include "sim/nqm.h"

using namespace batchlab;
using namespace batchlab::experiments;

namespace {

// Zhang et al.'s NQM (h_i = c_i = 1/i, E theta_0^2 = 1), d = 10^4, SGD at batch 8, lr 0.1.
sim::TrialSpec nqm_run() {
  sim::TrialSpec s;
  s.optimizer.name = "sgd";
  s.optimizer.momentum = 0.0;
  s.batch_size = 8;
  s.lr = 0.1;
  s.max_steps = 100000000;
  return s;
}

BranchSettings settings(double epsilon, optim::LrCoupling coupling = optim::LrCoupling::kLinear) {
  BranchSettings b;
  b.factors = {2, 4, 8, 16, 32, 64};
  b.examples = 40960;  // a multiple of 64 x 8
  b.epsilon = epsilon;
  b.gap = BranchGap::kProgress;
  b.coupling = coupling;
  return b;
}

BranchPoint point_at(const sim::TrialSpec& s, std::int64_t step) {
  BranchPoint p;
  p.step = step;
  p.examples = step * s.batch_size;
  p.base_batch = s.batch_size;
  p.base_lr = s.lr;
  return p;
}

BranchReport branch(const sim::TrialSpec& s, std::int64_t step, const BranchSettings& b) {
  SimBranchRunner runner(s);
  runner.advance({}, step);
  return run_branch_test(point_at(s, step), b, runner);
}

std::vector<std::int64_t> pow2_batches() {
  std::vector<std::int64_t> b;
  for (int e = 0; e <= 20; ++e) b.push_back(std::int64_t{1} << e);
  return b;
}

std::vector<double> lr_grid() {
  std::vector<double> lrs;
  for (int i = 0; i < 80; ++i) lrs.push_back(1e-3 * std::pow(1.99e3, i / 79.0));  // 1e-3 .. 1.99
  return lrs;
}

}  // namespace

TEST(Branching, BranchEqualsTheRunUpToTheBranchPoint) {
  const sim::TrialSpec s = nqm_run();
  SimBranchRunner runner(s);
  BranchPoint p = point_at(s, 300);
  p.batch_schedule.lr_coupling = optim::LrCoupling::kLinear;
  const double at = sim::nqm_expected_loss_stepwise(s, 300).back();
  EXPECT_EQ(runner.loss_after(branch_schedule(p, 4), 300, "k4"), at);
  // ... and differs right after it: 4x the batch at 4x the lr.
  sim::TrialSpec k4 = s;
  k4.landscape.spectrum = std::make_shared<const sim::NqmSpectrum>(sim::nqm_spectrum_at(s, 300));
  k4.batch_size = 32;
  k4.lr = 0.4;
  const double one_more = sim::nqm_expected_loss_stepwise(k4, 1).back();
  EXPECT_NEAR(runner.loss_after(branch_schedule(p, 4), 301, "k4") / one_more, 1.0, 1e-12);
}

TEST(Branching, EstimateWithinFactorTwoOfTheAnalyticBend) {
  const sim::TrialSpec s = nqm_run();
  const std::int64_t t0 = 20000;
  const BranchReport r = branch(s, t0, settings(0.5));
  ASSERT_EQ(r.rows.size(), 6u);
  EXPECT_EQ(r.batch, 8);
  EXPECT_EQ(r.reference_steps, 40960 / 8);
  EXPECT_GT(r.loss_at_branch, r.loss_reference);
  // lr follows the batch linearly (SGD): k x 0.1.
  for (const BranchRow& row : r.rows) {
    EXPECT_EQ(row.batch, 8 * row.factor);
    EXPECT_NEAR(row.lr, 0.1 * static_cast<double>(row.factor), 1e-12);
    EXPECT_EQ(row.examples, 40960);
  }
  // The analytic answer: S(B) to the reference's loss from the NQM seen at t0.
  const NqmBend bend = nqm_bend_at(s, t0, r.loss_reference, pow2_batches(), lr_grid());
  ASSERT_TRUE(bend.fit.ok);
  ASSERT_TRUE(bend.fit.bounded);
  const double ratio = static_cast<double>(r.b_branch) / bend.fit.b_crit;
  EXPECT_GT(ratio, 0.5) << "branched " << r.b_branch << " vs analytic B_crit " << bend.fit.b_crit;
  EXPECT_LT(ratio, 2.0) << "branched " << r.b_branch << " vs analytic B_crit " << bend.fit.b_crit;
  EXPECT_FALSE(r.below_first);
}

TEST(Branching, SmallerEpsilonNeverRaisesTheEstimate) {
  const sim::TrialSpec s = nqm_run();
  const BranchReport strict = branch(s, 20000, settings(0.02));
  const BranchReport loose = branch(s, 20000, settings(0.5));
  // Same losses, different tolerances: the strict one stops earlier.
  ASSERT_EQ(strict.rows.size(), loose.rows.size());
  for (std::size_t i = 0; i < strict.rows.size(); ++i) EXPECT_EQ(strict.rows[i].gap, loose.rows[i].gap);
  EXPECT_LT(strict.b_branch, loose.b_branch);
  // The gap grows with k (the NQM's loss gets worse the further the lr is from its linear regime).
  for (std::size_t i = 1; i < loose.rows.size(); ++i) {
    if (std::isfinite(loose.rows[i].gap)) {
      EXPECT_GT(loose.rows[i].gap, loose.rows[i - 1].gap);
    }
  }
}

TEST(Branching, SqrtCouplingOnSgdLosesProgress) {
  // The coupling is part of the test: SGD with lr x sqrt(k) falls behind the reference per example.
  const sim::TrialSpec s = nqm_run();
  const BranchReport lin = branch(s, 20000, settings(0.5, optim::LrCoupling::kLinear));
  const BranchReport sq = branch(s, 20000, settings(0.5, optim::LrCoupling::kSqrt));
  EXPECT_GT(sq.rows[0].gap, lin.rows[0].gap);
  EXPECT_LT(sq.b_branch, lin.b_branch);
}

TEST(Branching, CouplingFollowsTheConfiguredRule) {
  using optim::LrCoupling;
  using optim::ScalingKind;
  std::string why;
  EXPECT_EQ(branch_lr_coupling(LrCoupling::kSqrt, ScalingKind::kLinear, "sgd", &why), LrCoupling::kSqrt);
  EXPECT_EQ(why, "batch_lr_coupling = sqrt");
  EXPECT_EQ(branch_lr_coupling(LrCoupling::kNone, ScalingKind::kLinear, "adam"), LrCoupling::kLinear);
  EXPECT_EQ(branch_lr_coupling(LrCoupling::kNone, ScalingKind::kMalladi, "sgd"), LrCoupling::kSqrt);
  EXPECT_EQ(branch_lr_coupling(LrCoupling::kNone, ScalingKind::kNone, "adamw"), LrCoupling::kSqrt);
  EXPECT_EQ(branch_lr_coupling(LrCoupling::kNone, ScalingKind::kNone, "momentum"), LrCoupling::kLinear);
}

TEST(Branching, BadSettingsAreOneLineErrors) {
  auto message = [](const BranchSettings& b) {
    try {
      validate(b);
    } catch (const optim::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  BranchSettings b = settings(0.5);
  b.factors = {1, 2};
  EXPECT_EQ(message(b), "--branch-factors = '1,2': factor 1 is below 2");
  b.factors = {2, 8, 4};
  EXPECT_EQ(message(b), "--branch-factors = '2,8,4': factor 4 does not exceed 8 (factors must be strictly increasing)");
  b = settings(0.5);
  b.examples = 0;
  EXPECT_EQ(message(b), "--branch-examples = 0: must be > 0");
  b = settings(-0.1);
  EXPECT_EQ(message(b), "--branch-epsilon = -0.1: must be finite and > 0");
  EXPECT_THROW(parse_branch_factors("2,x"), optim::ConfigError);
  b = settings(0.5);
  b.examples = 4000;  // not a multiple of 64 x 8
  SimBranchRunner runner(nqm_run());
  runner.advance({}, 100);
  try {
    (void)run_branch_test(point_at(nqm_run(), 100), b, runner);
    FAIL() << "accepted examples that no branch divides";
  } catch (const optim::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("multiple of the largest branch batch 512"), std::string::npos) << e.what();
  }
  EXPECT_EQ(runner.trials_run(), 0);  // refused before any work
}

TEST(Branching, ReportFilesHoldEveryFactor) {
  const BranchReport r = branch(nqm_run(), 2000, settings(0.5));
  const auto dir = std::filesystem::temp_directory_path() / "batchlab_test_branching";
  std::filesystem::remove_all(dir);
  write_branch_report(dir, r, {{"analytic_b_crit", 1.0}});
  std::ifstream in(dir / "branches.csv");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "factor,batch,lr,steps,examples,loss_branch,loss_reference,gap,accepted");
  int rows = 0;
  while (std::getline(in, line)) ++rows;
  EXPECT_EQ(rows, 6);
  std::ifstream js(dir / "branch.json");
  std::stringstream ss;
  ss << js.rdbuf();
  const auto j = nlohmann::json::parse(ss.str());
  EXPECT_EQ(j["b_branch"].get<std::int64_t>(), r.b_branch);
  EXPECT_EQ(j["analytic_b_crit"].get<double>(), 1.0);
  std::filesystem::remove_all(dir);
}

TEST(Branching, WarmupDoublesAsTheCriticalBatchGrows) {
  // CBS-driven warm-up on the NQM: starting at batch 8, test every 16384 examples; the batch
  // grows, the run takes fewer steps than the fixed small batch over the same examples, and its
  // final loss stays within 1.5x of it. (d = 2000: the warm-up recomputes the run at every test.)
  sim::TrialSpec s = nqm_run();
  s.landscape.dim = 2000;
  WarmupSettings w;
  w.every_examples = 16384;
  w.total_examples = 262144;
  w.test = settings(0.5);
  w.test.examples = 8192;
  SimBranchRunner runner(s);
  BranchPoint start = point_at(s, 0);
  const WarmupResult r = run_cbs_warmup(start, w, runner);
  ASSERT_FALSE(r.decisions.empty());
  EXPECT_GE(r.schedule.milestones.size(), 2u);
  EXPECT_EQ(r.schedule.factor, 2.0);
  EXPECT_GE(r.examples, w.total_examples);
  const std::int64_t small_steps = w.total_examples / 8;
  EXPECT_LT(r.steps, small_steps);
  const double small_loss = sim::nqm_expected_loss_stepwise(s, small_steps).back();
  EXPECT_LT(r.final_loss, 1.5 * small_loss) << "warm-up " << r.final_loss << " vs batch 8 " << small_loss;
  // Decisions are at increasing examples, and the batch doubles exactly after each acceptance.
  for (std::size_t i = 1; i < r.decisions.size(); ++i) {
    EXPECT_GT(r.decisions[i].examples, r.decisions[i - 1].examples);
    EXPECT_EQ(r.decisions[i].batch, r.decisions[i - 1].batch * (r.decisions[i - 1].accepted ? 2 : 1));
  }
}
