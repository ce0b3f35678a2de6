// Sampled mode: Monte-Carlo agreement with the analytic NQM, finite differences of every
// landscape, simulated workers and sync policies, determinism, and input validation.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "optim/config.h"
#include "sim/landscape.h"
#include "sim/linreg.h"
#include "sim/nqm.h"
#include "sim/nqm_sampled.h"
#include "sim/noise_scale_exact.h"
#include "sim/trial.h"
#include "tests/sim/two_thread_determinism.h"

namespace batchlab::sim {
namespace {

TrialSpec small_nqm(const std::string& opt, double lr, std::int64_t batch) {
  TrialSpec s;
  s.landscape.kind = "nqm";
  s.landscape.dim = 16;
  s.optimizer.name = opt;
  s.lr = lr;
  s.batch_size = batch;
  s.target = -1.0;  // never reached: run to max_steps and record the curve
  s.max_steps = 120;
  s.record_curve = true;
  return s;
}

// Mean over R seeds of the sampled loss at each curve step vs the exact expectation, within
// 4 standard errors of the Monte-Carlo mean (the estimate's own spread, not a loose fudge).
void expect_mc_matches_analytic(TrialSpec s, int R) {
  s.mode = "analytic";
  const auto exact = nqm_expected_loss_stepwise(s, s.max_steps);
  s.mode = "sampled";
  std::vector<double> sum, sumsq;
  std::vector<std::int64_t> steps;
  for (int r = 0; r < R; ++r) {
    s.seed = static_cast<std::uint64_t>(r);
    const TrialResult res = run_trial(s);
    if (sum.empty()) {
      for (const auto& p : res.curve) steps.push_back(p.step);
      sum.assign(steps.size(), 0.0);
      sumsq.assign(steps.size(), 0.0);
    }
    ASSERT_EQ(res.curve.size(), steps.size());
    for (std::size_t i = 0; i < steps.size(); ++i) {
      sum[i] += res.curve[i].metric;
      sumsq[i] += res.curve[i].metric * res.curve[i].metric;
    }
  }
  int checked = 0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (steps[i] == 0) continue;
    const double mean = sum[i] / R;
    const double var = (sumsq[i] / R - mean * mean) * R / (R - 1);
    const double se = std::sqrt(var / R);
    EXPECT_NEAR(mean, exact[static_cast<std::size_t>(steps[i])], 4.0 * se)
        << s.optimizer.name << " step " << steps[i];
    ++checked;
  }
  EXPECT_GT(checked, 10);
}

TEST(SampledNqm, MonteCarloMatchesAnalyticSgd) { expect_mc_matches_analytic(small_nqm("sgd", 0.8, 4), 1500); }

TEST(SampledNqm, MonteCarloMatchesAnalyticMomentum) {
  TrialSpec s = small_nqm("momentum", 0.3, 8);
  s.optimizer.momentum = 0.8;
  expect_mc_matches_analytic(s, 1500);
}

TEST(SampledNqm, MonteCarloMatchesAnalyticPreconditioned) {
  TrialSpec s = small_nqm("precond", 0.4, 4);
  s.optimizer.precond_power = 0.5;
  expect_mc_matches_analytic(s, 1500);
}

TEST(SampledNqm, MonteCarloMatchesAnalyticEma) {
  TrialSpec s = small_nqm("ema", 0.9, 2);
  s.ema_decay = 0.7;
  expect_mc_matches_analytic(s, 1500);
}

TEST(SampledNqm, MonteCarloMatchesAnalyticEmaWithMomentum) {
  TrialSpec s = small_nqm("ema", 0.3, 4);
  s.ema_decay = 0.6;
  s.optimizer.momentum = 0.5;
  expect_mc_matches_analytic(s, 1500);
}

// Batch growth (Smith et al. 2018): the sampled loop draws each phase's batch and the analytic
// recursion injects C / B_t; they agree in expectation across the phase changes.
TEST(SampledNqm, MonteCarloMatchesAnalyticWithBatchSchedule) {
  TrialSpec s = small_nqm("sgd", 0.8, 2);
  s.batch_schedule = {{40, 120}, 4.0, 0};  // B = 2 for 20 steps, 8 for 10, then 32
  expect_mc_matches_analytic(s, 1500);
}

// The analytic batch schedule against the SGD second-moment recursion written out here:
// s_i(t+1) = (1 - lr h_i)^2 s_i(t) + lr^2 c_i / B_t,  E[L] = 1/2 sum h_i s_i.
TEST(NqmAnalyticBatchSchedule, MatchesTheRecursionWithPerStepNoise) {
  TrialSpec s = small_nqm("sgd", 0.5, 3);
  s.mode = "analytic";
  s.batch_schedule = {{30, 90}, 2.5, 18};  // B: 3 -> 8 (nearest to 7.5) -> 18 (cap; 18.75 wanted)
  const auto got = nqm_expected_loss_stepwise(s, s.max_steps);
  const auto sp = nqm_spectrum(s.landscape);
  Eigen::ArrayXd m = Eigen::ArrayXd::Constant(sp.h.size(), s.landscape.init_variance);
  std::int64_t seen = 0;
  for (std::int64_t t = 0; t <= s.max_steps; ++t) {
    EXPECT_NEAR(got[static_cast<std::size_t>(t)], 0.5 * (sp.h * m).sum(), 1e-13) << "step " << t;
    const double b = seen >= 90 ? 18.0 : seen >= 30 ? 8.0 : 3.0;
    m = (1.0 - s.lr * sp.h).square() * m + s.lr * s.lr * sp.c / b;
    seen += static_cast<std::int64_t>(b);
  }
  // A batch schedule has no closed form: the trial takes the step-by-step path and agrees with it.
  s.target = got[50] * 1.0000001;
  EXPECT_FALSE(nqm_has_fast_path(s));
  const TrialResult r = run_trial(s);
  std::int64_t first = 0;
  while (!(got[static_cast<std::size_t>(first)] < s.target)) ++first;
  ASSERT_EQ(r.status, TrialStatus::kReached);
  EXPECT_EQ(r.steps_to_target, first);
}

TEST(SampledNqm, LayersRescaleCoordinatesButKeepTheLoss) {
  LandscapeConfig c;
  c.dim = 12;
  c.layers = 3;
  c.layer_scale_spread = 100.0;
  const NqmSampled n(c);
  ASSERT_EQ(n.groups().size(), 3u);
  EXPECT_EQ(n.groups()[1].offset, 4);
  // Layer 0 holds dims 1, 4, 7, 10 (1-based) at scale 100^-1/2; layer 2 at 100^1/2.
  EXPECT_NEAR(n.h()[0], 0.01 * 1.0, 1e-15);
  EXPECT_NEAR(n.h()[1], 0.01 / 4.0, 1e-15);
  EXPECT_NEAR(n.h()[8], 100.0 / 3.0, 1e-12);
  // phi = theta / s: the loss of theta is unchanged.
  Eigen::VectorXd phi = Eigen::VectorXd::Ones(12).cwiseQuotient(n.scale());
  const double want = 0.5 * (Eigen::ArrayXd::LinSpaced(12, 1, 12).inverse()).sum();
  EXPECT_NEAR(n.loss(phi), want, 1e-12);
}

// Central differences of the training loss vs full_gradient, for every landscape.
void expect_gradient_matches_finite_differences(const LandscapeConfig& c) {
  const auto land = make_landscape(c);
  Rng rng = make_rng(7, kInitStream);
  Eigen::VectorXd x = land->initial_point(rng);
  for (Eigen::Index i = 0; i < x.size(); ++i) x[i] += 0.05 * std::sin(1.0 + i);  // off symmetric points
  Eigen::VectorXd g(land->dim());
  land->full_gradient(x, g);
  const double h = 1e-5;
  for (Eigen::Index i = 0; i < x.size(); i += std::max<Eigen::Index>(1, x.size() / 40)) {
    Eigen::VectorXd xp = x, xm = x;
    xp[i] += h;
    xm[i] -= h;
    const double fd = (land->loss(xp) - land->loss(xm)) / (2 * h);
    EXPECT_NEAR(g[i], fd, 1e-6 * (1.0 + std::abs(fd))) << c.kind << " coordinate " << i;
  }
}

TEST(Landscapes, GradientsMatchFiniteDifferences) {
  LandscapeConfig c;
  c.train_examples = 256;
  c.test_examples = 64;
  c.input_dim = 8;
  c.hidden = {6, 5};
  for (const char* k : {"linreg", "logreg", "mlp"}) {
    c.kind = k;
    expect_gradient_matches_finite_differences(c);
  }
  LandscapeConfig n;
  n.dim = 30;
  n.layers = 3;
  expect_gradient_matches_finite_differences(n);
}

TEST(Landscapes, FullBatchOfAFiniteSumIsTheFullGradient) {
  // Without replacement within an epoch, a batch of n examples is the whole training set.
  LandscapeConfig c;
  c.kind = "mlp";
  c.train_examples = 100;
  c.input_dim = 5;
  c.hidden = {4};
  const auto land = make_landscape(c);
  Rng rng = make_rng(1, kInitStream);
  const Eigen::VectorXd x = land->initial_point(rng);
  Eigen::VectorXd g(land->dim()), full(land->dim());
  BatchStream s(make_rng(3, 0));
  land->gradient(x, 100, s, g);
  land->full_gradient(x, full);
  EXPECT_LT((g - full).norm(), 1e-12 * full.norm());
}

TEST(Landscapes, BatchesAreWithoutReplacementWithinAnEpoch) {
  BatchStream s(make_rng(5, 0));
  std::vector<std::int64_t> b, seen;
  for (int i = 0; i < 4; ++i) {
    s.next_batch(20, 5, b);
    seen.insert(seen.end(), b.begin(), b.end());
  }
  std::sort(seen.begin(), seen.end());
  for (std::int64_t i = 0; i < 20; ++i) EXPECT_EQ(seen[static_cast<std::size_t>(i)], i);
  s.next_batch(20, 7, b);  // next epoch
  EXPECT_EQ(s.epochs, 1);
}

TEST(Landscapes, LinearRegressionOptimumHasZeroGradient) {
  LandscapeConfig c;
  c.kind = "linreg";
  c.train_examples = 500;
  const LinearRegression lr(c);
  Eigen::VectorXd g(lr.dim());
  lr.full_gradient(lr.optimum(), g);
  EXPECT_LT(g.norm(), 1e-10);
  EXPECT_NEAR(*lr.optimum_loss(), lr.loss(lr.optimum()), 1e-15);
  // Noise std 0.1: the least-squares residual is about 0.1^2 / 2.
  EXPECT_NEAR(*lr.optimum_loss(), 0.005, 0.001);
}

TEST(Landscapes, FiniteSumTrialsReachTheirTargets) {
  for (const char* k : {"linreg", "logreg", "mlp"}) {
    TrialSpec s;
    s.mode = "sampled";
    s.landscape.kind = k;
    s.landscape.train_examples = 2048;
    s.landscape.test_examples = 512;
    s.landscape.input_dim = 8;
    s.landscape.hidden = {16};
    s.optimizer.name = "momentum";
    s.optimizer.momentum = 0.9;
    s.batch_size = 64;
    s.lr = std::string(k) == "logreg" ? 0.5 : 0.05;
    s.target = std::string(k) == "logreg" ? 0.2 : (std::string(k) == "linreg" ? 0.03 : 0.1);
    s.max_steps = 5000;
    s.eval_every = 10;
    const TrialResult r = run_trial(s);
    EXPECT_EQ(r.status, TrialStatus::kReached) << k << " metric " << r.final_metric;
  }
}

TrialSpec worker_spec(const std::string& sync, int workers) {
  TrialSpec s;
  s.mode = "sampled";
  s.landscape.dim = 200;
  s.landscape.layers = 2;
  s.optimizer.name = "sgd";
  s.batch_size = 64;
  s.lr = 0.3;  // layer curvatures reach sqrt(10): lr h < 1
  s.workers = workers;
  s.sync = optim::SyncPolicy::parse(sync);
  s.target = 0.4;
  s.max_steps = 3000;
  s.seed = 11;
  return s;
}

TEST(SimulatedWorkers, LocalSgdWithPeriodOneIsSynchronousSgd) {
  // Plain SGD is linear in the gradient, so averaging parameters after every step equals
  // averaging the gradients before it (same per-worker noise streams).
  const TrialResult sync = run_trial(worker_spec("sync", 4));
  const TrialResult local = run_trial(worker_spec("local:1", 4));
  EXPECT_EQ(sync.steps_to_target, local.steps_to_target);
  EXPECT_NEAR(sync.final_metric, local.final_metric, 1e-12 * sync.final_metric);
  const TrialResult local8 = run_trial(worker_spec("local:8", 4));
  EXPECT_NE(local8.final_metric, sync.final_metric);
  EXPECT_EQ(local8.status, TrialStatus::kReached);
  TrialSpec h = worker_spec("hier:2:4", 4);
  h.node_size = 2;
  EXPECT_EQ(run_trial(h).status, TrialStatus::kReached);
  EXPECT_EQ(run_trial(worker_spec("post-local:4@100", 4)).status, TrialStatus::kReached);
}

TEST(SimulatedWorkers, LayerwiseOptimizersRunOnTheLayeredNqm) {
  for (const char* opt : {"lars:paper", "lamb:paper", "adam", "nesterov"}) {
    TrialSpec s = worker_spec("sync", 2);
    s.optimizer.name = opt;
    s.optimizer.momentum = 0.9;
    s.lr = std::string(opt).starts_with("lars") ? 1.0 : 0.01;
    s.max_steps = 200;
    const TrialResult r = run_trial(s);
    EXPECT_NE(r.status, TrialStatus::kDiverged) << opt;
    EXPECT_TRUE(std::isfinite(r.final_metric)) << opt;
  }
}

TEST(Determinism, SameSeedSameResultWhateverTheThreadCount) {
  std::vector<TrialSpec> specs;
  for (int i = 0; i < 6; ++i) {
    TrialSpec s = worker_spec(i % 2 ? "local:4" : "sync", 2);
    s.seed = static_cast<std::uint64_t>(100 + i);
    s.record_curve = true;
    specs.push_back(s);
  }
  const auto serial = expect_same_results_serial_and_on_two_threads(specs);
  EXPECT_NE(serial[0].final_metric, serial[2].final_metric) << "seeds must matter";
}

TEST(Validate, RejectsImpossibleSpecsWithConfigError) {
  auto bad = [](auto edit) {
    TrialSpec s;
    s.landscape.dim = 100;
    edit(s);
    EXPECT_THROW(validate(s), optim::ConfigError);
  };
  bad([](TrialSpec& s) { s.batch_size = 0; });
  bad([](TrialSpec& s) { s.lr = 0.0; });
  bad([](TrialSpec& s) { s.lr = std::numeric_limits<double>::quiet_NaN(); });
  bad([](TrialSpec& s) { s.landscape.dim = 0; });
  bad([](TrialSpec& s) { s.landscape.kind = "resnet"; });
  bad([](TrialSpec& s) { s.mode = "exact"; });
  bad([](TrialSpec& s) { s.optimizer.name = "adam"; });      // analytic: unsupported
  bad([](TrialSpec& s) { s.optimizer.name = "nesterov"; });  // no exact recursion derived
  bad([](TrialSpec& s) {
    s.mode = "sampled";
    s.batch_size = 10;
    s.workers = 3;
  });
  bad([](TrialSpec& s) {
    s.mode = "sampled";
    s.optimizer.name = "sgd-typo";
  });
  bad([](TrialSpec& s) {
    s.optimizer.name = "ema";
    s.ema_decay = 1.0;
  });
  bad([](TrialSpec& s) {
    s.workers = 2;
    s.batch_size = 8;
    s.sync = optim::SyncPolicy::parse("local:4");
  });
  bad([](TrialSpec& s) {
    s.mode = "sampled";
    s.landscape.kind = "linreg";
    s.landscape.train_examples = 10;
    s.batch_size = 11;
  });
  TrialSpec ok;
  ok.landscape.dim = 100;
  EXPECT_NO_THROW(validate(ok));
}

TEST(NoiseScale, NqmClosedFormsByHandAlgebra) {
  // d = 2: h = (1, 1/2), c = h. theta = (1, 2): G = (1, 1), |G|^2 = 2, tr C = 3/2,
  // tr(HC) = 1 + 1/4, G'HG = 1 + 1/2.
  LandscapeConfig c;
  c.dim = 2;
  const NoiseScale n = exact_noise_scale(c, Eigen::Vector2d(1.0, 2.0));
  EXPECT_DOUBLE_EQ(n.b_simple, 0.75);
  EXPECT_DOUBLE_EQ(n.b_noise, 1.25 / 1.5);
  c.kind = "linreg";
  EXPECT_THROW(exact_noise_scale(c, Eigen::Vector2d(1.0, 2.0)), optim::ConfigError);
}

}  // namespace
}  // namespace batchlab::sim
