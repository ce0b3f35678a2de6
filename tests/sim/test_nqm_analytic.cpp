// Analytic NQM: closed forms vs the step-by-step recursion, steady states vs the formulas of
// docs/science.md#steady-states-and-stability, exact first crossing, stability.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "optim/config.h"
#include "sim/nqm.h"
#include "sim/trial.h"

namespace batchlab::sim {
namespace {

TrialSpec nqm_spec(const std::string& opt, double lr, std::int64_t batch, std::int64_t dim = 1000) {
  TrialSpec s;
  s.landscape.kind = "nqm";
  s.landscape.dim = dim;
  s.optimizer.name = opt;
  s.lr = lr;
  s.batch_size = batch;
  s.mode = "analytic";
  s.target = 0.01;
  s.max_steps = 100000;
  return s;
}

TEST(NqmAnalytic, SgdSteadyStateMatchesReferenceFormula) {
  // docs/science.md#steady-states-and-stability: s*_i = lr c_i / (B h_i (2 - lr h_i));
  // E[L*] = 1/2 sum h_i s*_i.
  TrialSpec s = nqm_spec("sgd", 0.7, 8, 50);
  const auto sp = nqm_spectrum(s.landscape);
  const double want = (0.5 * sp.h * (s.lr * sp.c / (8.0 * sp.h * (2.0 - s.lr * sp.h)))).sum();
  const auto losses = nqm_expected_loss_stepwise(s, 20000);  // slowest rate (1 - 0.7/50)^2
  EXPECT_NEAR(losses.back(), want, 1e-12 * want);
  EXPECT_NEAR(nqm_steady_state_loss(s), want, 1e-12 * want);
}

TEST(NqmAnalytic, MomentumSteadyStateMatchesReferenceFormula) {
  // docs/science.md#steady-states-and-stability: E[l_i*] = (1+b) lr c_i / (2B (1-b)(2 + 2b - lr h_i)).
  TrialSpec s = nqm_spec("momentum", 0.3, 16, 40);
  s.optimizer.momentum = 0.9;
  const auto sp = nqm_spectrum(s.landscape);
  const double b = 0.9;
  const double want =
      ((1 + b) * s.lr * sp.c / (2.0 * 16.0 * (1 - b) * (2 + 2 * b - s.lr * sp.h))).sum();
  const auto losses = nqm_expected_loss_stepwise(s, 40000);
  EXPECT_NEAR(losses.back(), want, 1e-10 * want);
  EXPECT_NEAR(nqm_steady_state_loss(s), want, 1e-12 * want);
}

TEST(NqmAnalytic, EmaLowersSteadyStateByReferenceFactor) {
  // docs/science.md#steady-states-and-stability: per dimension the EMA multiplies the SGD
  // steady-state risk by
  // (1-g)(1 + (1-k) g) / ((1+g)(1 - (1-k) g)), k = lr h_i.
  TrialSpec s = nqm_spec("ema", 0.5, 4, 30);
  s.ema_decay = 0.8;
  const auto sp = nqm_spectrum(s.landscape);
  const double g = 0.8;
  const Eigen::ArrayXd k = s.lr * sp.h;
  const Eigen::ArrayXd sgd = 0.5 * sp.h * (s.lr * sp.c / (4.0 * sp.h * (2.0 - k)));
  const Eigen::ArrayXd factor = (1 - g) * (1 + (1 - k) * g) / ((1 + g) * (1 - (1 - k) * g));
  const double want = (sgd * factor).sum();
  const auto losses = nqm_expected_loss_stepwise(s, 20000);
  EXPECT_NEAR(losses.back(), want, 1e-11 * want);
  EXPECT_NEAR(nqm_steady_state_loss(s), want, 1e-11 * want);
}

struct Case {
  std::string name;
  double lr;
  std::int64_t batch;
  double momentum;
  double ema;
};

std::vector<Case> four_optimizers() {
  return {{"sgd", 0.9, 64, 0.0, 0.0},
          {"momentum", 0.15, 256, 0.9, 0.0},
          {"precond", 0.2, 32, 0.0, 0.0},
          {"ema", 1.2, 16, 0.0, 0.9},
          {"precond", 0.05, 512, 0.8, 0.0}};
}

TrialSpec from_case(const Case& c, std::int64_t dim = 1000) {
  TrialSpec s = nqm_spec(c.name, c.lr, c.batch, dim);
  s.optimizer.momentum = c.momentum;
  s.ema_decay = c.ema;
  return s;
}

TEST(NqmAnalytic, ClosedFormEqualsStepwiseRecursion) {
  for (const Case& c : four_optimizers()) {
    const TrialSpec s = from_case(c);
    ASSERT_TRUE(nqm_has_fast_path(s)) << c.name;
    const auto steps = nqm_expected_loss_stepwise(s, 3000);
    for (std::int64_t t : {0, 1, 2, 3, 7, 50, 333, 1024, 2047, 3000}) {
      const double closed = nqm_expected_loss_closed(s, t);
      EXPECT_NEAR(closed, steps[static_cast<std::size_t>(t)], 1e-9 * steps[static_cast<std::size_t>(t)])
          << c.name << " t=" << t;
    }
  }
}

TEST(NqmAnalytic, FastPathFindsTheSameStepsAsStepwise) {
  for (const Case& c : four_optimizers()) {
    for (double target : {0.5, 0.05, 0.01}) {
      TrialSpec s = from_case(c);
      s.target = target;
      const TrialResult fast = run_nqm_analytic(s);
      const TrialResult slow = run_nqm_analytic(s, /*force_stepwise=*/true);
      EXPECT_EQ(to_string(fast.status), to_string(slow.status)) << c.name << " " << target;
      EXPECT_EQ(fast.steps_to_target, slow.steps_to_target) << c.name << " " << target;
      EXPECT_NEAR(fast.final_metric, slow.final_metric, 1e-9 * slow.final_metric);
    }
  }
}

// The constant-lr SGD / precond path searches with Newton steps on ln E[L(t)], started from the
// previous trial's answer on the same thread. A sweep up and then down the lrs (good hints,
// then hints from the other side) and a repeat out of order (a hint from a far lr) must give
// exactly the recursion's first step below the target, the same status (diverged beyond the
// stability limit, not reached when the noise floor or max_steps stops it) and its final loss.
TEST(NqmAnalytic, LrSweepWithSearchHintsMatchesStepwise) {
  int reached = 0, not_reached = 0, diverged = 0;
  for (const std::string opt : {"sgd", "precond"})
    for (std::int64_t batch : {1, 8, 256}) {
      std::vector<double> lrs;
      for (int j = 0; j < 14; ++j) lrs.push_back(0.05 * std::pow(10.0, 1.8 * j / 13.0));
      std::vector<double> order = lrs;
      order.insert(order.end(), lrs.rbegin(), lrs.rend());
      order.push_back(lrs[1]);
      order.push_back(lrs[12]);
      for (double lr : order) {
        TrialSpec s = nqm_spec(opt, lr, batch, 120);
        s.optimizer.precond_power = 0.5;
        s.max_steps = 3000;
        s.target = 0.02;
        const TrialResult fast = run_nqm_analytic(s);
        const TrialResult slow = run_nqm_analytic(s, /*force_stepwise=*/true);
        ASSERT_EQ(to_string(fast.status), to_string(slow.status))
            << opt << " B " << batch << " lr " << lr;
        EXPECT_EQ(fast.steps_to_target, slow.steps_to_target) << opt << " B " << batch << " lr " << lr;
        if (slow.status != TrialStatus::kDiverged) {
          EXPECT_NEAR(fast.final_metric, slow.final_metric, 1e-9 * slow.final_metric)
              << opt << " B " << batch << " lr " << lr;
        }
        reached += slow.status == TrialStatus::kReached;
        not_reached += slow.status == TrialStatus::kNotReached;
        diverged += slow.status == TrialStatus::kDiverged;
      }
    }
  // The sweep must exercise every outcome, or it tests less than it claims.
  EXPECT_GT(reached, 20);
  EXPECT_GT(not_reached, 5);
  EXPECT_GT(diverged, 5);
}

// Smallest crossing when E[L] is not monotone: underdamped momentum rings, and SGD started
// below its noise floor in some dimensions rises there while falling elsewhere. Every crossing
// found by the fast path must equal an exhaustive scan of the exact recursion.
TEST(NqmAnalytic, FirstCrossingIsExactWhenLossIsNotMonotone) {
  int non_monotone = 0;
  for (double beta : {0.95, 0.99}) {
    for (double lr : {0.5, 1.5, 3.0}) {
      TrialSpec s = nqm_spec("momentum", lr, 1000, 3);
      s.optimizer.momentum = beta;
      s.max_steps = 3000;
      const auto L = nqm_expected_loss_stepwise(s, s.max_steps);
      for (std::size_t t = 1; t < L.size(); ++t) non_monotone += L[t] > L[t - 1];
      for (double target : {1.0, 0.3, 0.1, 0.03, 0.01, 1e-3}) {
        s.target = target;
        std::int64_t scan = -1;
        for (std::size_t t = 0; t < L.size(); ++t)
          if (L[t] < target) {
            scan = static_cast<std::int64_t>(t);
            break;
          }
        EXPECT_EQ(run_nqm_analytic(s).steps_to_target, scan) << beta << " " << lr << " " << target;
      }
    }
  }
  EXPECT_GT(non_monotone, 0) << "the cases must include a non-monotone E[L]";
  // SGD with s0 below s* in the low-curvature dimensions (c_i = 1, so s*_i grows with i): those
  // rise slowly while the high-curvature ones fall fast, so E[L] dips and rises again.
  TrialSpec s = nqm_spec("sgd", 1.0, 100, 50);
  s.landscape.noise_power = 0.0;
  s.landscape.init_variance = 0.1;
  s.max_steps = 2000;
  const auto L = nqm_expected_loss_stepwise(s, s.max_steps);
  std::size_t argmin = 0;
  for (std::size_t t = 0; t < L.size(); ++t)
    if (L[t] < L[argmin]) argmin = t;
  ASSERT_GT(argmin, 0u);
  ASSERT_LT(argmin, L.size() - 1) << "E[L] must dip and rise again";
  s.target = 0.5 * (L[argmin] + L.back());  // only reachable around the dip
  std::int64_t scan = -1;
  for (std::size_t t = 0; t < L.size(); ++t)
    if (L[t] < s.target) {
      scan = static_cast<std::int64_t>(t);
      break;
    }
  EXPECT_LT(L[argmin], s.target);
  EXPECT_GT(L.back(), s.target);
  EXPECT_EQ(run_nqm_analytic(s).steps_to_target, scan);
}

TEST(NqmAnalytic, UnstableLrDivergesImmediately) {
  TrialSpec s = nqm_spec("sgd", 2.01, 64);  // |1 - lr h_1| > 1
  EXPECT_EQ(run_nqm_analytic(s).status, TrialStatus::kDiverged);
  s.lr = 1.99;
  EXPECT_NE(run_nqm_analytic(s).status, TrialStatus::kDiverged);
  // Heavy ball: stable iff lr h < 2 + 2b.
  TrialSpec m = nqm_spec("momentum", 3.79, 4096);
  m.optimizer.momentum = 0.9;
  EXPECT_NE(run_nqm_analytic(m).status, TrialStatus::kDiverged);
  m.lr = 3.81;
  EXPECT_EQ(run_nqm_analytic(m).status, TrialStatus::kDiverged);
  // Preconditioned: lr h^(1-p) < 2 with h_max = 1, so the same bound.
  TrialSpec p = nqm_spec("precond", 2.01, 64);
  EXPECT_EQ(run_nqm_analytic(p).status, TrialStatus::kDiverged);
}

TEST(NqmAnalytic, WarmupScheduleRunsTheExactRecursion) {
  TrialSpec s = nqm_spec("sgd", 1.0, 256);
  s.schedule.warmup = optim::WarmupKind::kLinearFromZero;
  s.schedule.warmup_steps = 100;
  EXPECT_FALSE(nqm_has_fast_path(s));
  const auto L = nqm_expected_loss_stepwise(s, 3);
  // Hand algebra, first update with lr_0 = 1/100: s_i(1) = (1 - h_i/100)^2 + (1/100)^2 c_i / 256.
  const auto sp = nqm_spectrum(s.landscape);
  const double want =
      (0.5 * sp.h * ((1.0 - 0.01 * sp.h).square() + 1e-4 * sp.c / 256.0)).sum();
  EXPECT_NEAR(L[1], want, 1e-13 * want);
  const TrialResult r = run_trial(s);
  EXPECT_EQ(r.status, TrialStatus::kReached);
  // Warm-up can only slow SGD down here (lr below the stable constant lr at every step).
  s.schedule = {};
  EXPECT_LT(run_trial(s).steps_to_target, r.steps_to_target);
}

}  // namespace
}  // namespace batchlab::sim

namespace batchlab::sim {
namespace {

TEST(NqmAnalytic, SteadyStateIsAccurateInVerySlowDimensions) {
  // k = lr h ~ 1e-10: the closed form must not lose k's digits in (1+b)^2 - tau^2.
  TrialSpec s;
  s.mode = "analytic";
  s.landscape.dim = 1;
  s.landscape.curvature_power = 0.0;  // h = c = 1
  s.landscape.noise_power = 0.0;
  s.optimizer.name = "momentum";
  s.optimizer.momentum = 0.9;
  s.lr = 1e-10;
  s.batch_size = 1;
  const double b = 0.9, lr = 1e-10;
  const double want = (1 + b) * lr / (2.0 * (1 - b) * (2 + 2 * b - lr));
  EXPECT_NEAR(nqm_steady_state_loss(s), want, 1e-12 * want);
  s.optimizer.name = "ema";
  s.optimizer.momentum = 0.0;
  s.ema_decay = 0.5;
  // SGD steady state lr/(2(2-k)) times the EMA factor (1-g)(1+(1-k)g)/((1+g)(1-(1-k)g)).
  const double k = lr, g = 0.5;
  const double ema = lr / (2.0 * (2.0 - k)) * (1 - g) * (1 + (1 - k) * g) / ((1 + g) * (1 - (1 - k) * g));
  EXPECT_NEAR(nqm_steady_state_loss(s), ema, 1e-12 * ema);
}

}  // namespace
}  // namespace batchlab::sim
