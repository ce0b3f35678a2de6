// Explicit NQM spectra (LandscapeConfig::spectrum, per-dimension s0) and the calibrated NQM built
// from measurements (sim/nqm_calibration.h), against closed forms and the power-law landscape.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "optim/config.h"
#include "sim/nqm.h"
#include "sim/nqm_calibration.h"
#include "sim/trial.h"

namespace batchlab::sim {
namespace {

TrialSpec spec(const std::string& opt, double lr, std::int64_t batch, double target) {
  TrialSpec s;
  s.landscape.kind = "nqm";
  s.landscape.dim = 300;
  s.optimizer.name = opt;
  s.lr = lr;
  s.batch_size = batch;
  s.mode = "analytic";
  s.target = target;
  s.max_steps = 1000000;
  return s;
}

TrialSpec with_spectrum(TrialSpec s, const NqmSpectrum& sp) {
  s.landscape.spectrum = std::make_shared<const NqmSpectrum>(sp);
  s.landscape.dim = sp.h.size();
  return s;
}

// Five groups of identical directions, expanded (one dimension per direction) and folded
// (one dimension per group: h, m c, m s0).
struct Groups {
  NqmSpectrum expanded, folded;
};
Groups groups() {
  const double h[] = {2.0, 0.7, 0.2, 0.05, 0.004}, c[] = {1.5, 0.4, 0.3, 0.02, 0.01}, s0[] = {0.3, 1.0, 0.5, 2.0, 4.0};
  const int m[] = {1, 3, 7, 20, 50};
  Groups g;
  int total = 0;
  for (int v : m) total += v;
  for (NqmSpectrum* sp : {&g.expanded}) {
    sp->h.resize(total);
    sp->c.resize(total);
    sp->s0.resize(total);
  }
  g.folded.h.resize(5);
  g.folded.c.resize(5);
  g.folded.s0.resize(5);
  int at = 0;
  for (int j = 0; j < 5; ++j) {
    for (int r = 0; r < m[j]; ++r, ++at) {
      g.expanded.h[at] = h[j];
      g.expanded.c[at] = c[j];
      g.expanded.s0[at] = s0[j];
    }
    g.folded.h[j] = h[j];
    g.folded.c[j] = m[j] * c[j];
    g.folded.s0[j] = m[j] * s0[j];
  }
  return g;
}

}  // namespace

TEST(NqmExplicitSpectrum, PowerLawGivenExplicitlyGivesIdenticalTrials) {
  for (const std::string opt : {"sgd", "momentum", "precond", "ema"}) {
    for (double lr : {0.05, 0.4, 1.2}) {
      TrialSpec s = spec(opt, lr, 16, 0.05);
      s.optimizer.momentum = opt == "sgd" ? 0.0 : 0.9;
      s.optimizer.precond_power = 0.5;
      s.ema_decay = opt == "ema" ? 0.9 : 0.0;
      if (opt == "ema") s.optimizer.momentum = 0.0;
      const TrialResult a = run_trial(s);
      const TrialResult b = run_trial(with_spectrum(s, nqm_spectrum(s.landscape)));
      EXPECT_EQ(a.status, b.status) << opt << " lr " << lr;
      EXPECT_EQ(a.steps_to_target, b.steps_to_target) << opt << " lr " << lr;
      EXPECT_EQ(a.final_metric, b.final_metric) << opt << " lr " << lr;
    }
  }
}

TEST(NqmExplicitSpectrum, FoldedGroupsEvolveExactlyAsTheirDirections) {
  const Groups g = groups();
  for (const std::string opt : {"sgd", "momentum"}) {
    TrialSpec s = spec(opt, opt == "sgd" ? 0.6 : 0.06, 8, 0.5);
    s.optimizer.momentum = opt == "momentum" ? 0.9 : 0.0;
    const auto le = nqm_expected_loss_stepwise(with_spectrum(s, g.expanded), 400);
    const auto lf = nqm_expected_loss_stepwise(with_spectrum(s, g.folded), 400);
    ASSERT_EQ(le.size(), lf.size());
    for (std::size_t t = 0; t < le.size(); t += 7) EXPECT_NEAR(lf[t], le[t], 1e-12 * le[t]) << opt << " step " << t;
    // E[L(0)] = 1/2 sum h s0 with s0 per dimension.
    EXPECT_NEAR(lf[0], 0.5 * (g.expanded.h * g.expanded.s0).sum(), 1e-12);
    const TrialResult re = run_trial(with_spectrum(s, g.expanded));
    const TrialResult rf = run_trial(with_spectrum(s, g.folded));
    EXPECT_EQ(re.status, TrialStatus::kReached) << opt;
    EXPECT_EQ(re.steps_to_target, rf.steps_to_target) << opt;
  }
}

TEST(NqmExplicitSpectrum, SgdPerDimensionClosedForm) {
  // s_i(t) = s*_i + (1 - lr h_i)^(2t) (s0_i - s*_i), s*_i = lr c_i / (B h_i (2 - lr h_i)).
  const Groups g = groups();
  const double lr = 0.3, batch = 4.0;
  TrialSpec s = with_spectrum(spec("sgd", lr, 4, 0.1), g.folded);
  for (std::int64_t t : {0, 1, 5, 60, 3000}) {
    const Eigen::ArrayXd k = lr * g.folded.h;
    const Eigen::ArrayXd star = lr * g.folded.c / (batch * g.folded.h * (2.0 - k));
    const Eigen::ArrayXd st = star + (1.0 - k).square().pow(static_cast<double>(t)) * (g.folded.s0 - star);
    const double want = 0.5 * (g.folded.h * st).sum();
    EXPECT_NEAR(nqm_expected_loss_closed(s, t), want, 1e-12 * want) << "step " << t;
  }
}

TEST(NqmExplicitSpectrum, AnotherSpectrumOfTheSameSizeIsNotServedFromACache) {
  const Groups g = groups();
  NqmSpectrum other = g.folded;
  other.h *= 1.7;
  TrialSpec s = spec("sgd", 0.5, 8, 0.3);
  const TrialResult alone = run_trial(with_spectrum(s, other));
  (void)run_trial(with_spectrum(s, g.folded));  // same dim, same lr: a stale cache would hit
  const TrialResult after = run_trial(with_spectrum(s, other));
  EXPECT_EQ(alone.steps_to_target, after.steps_to_target);
  EXPECT_EQ(alone.final_metric, after.final_metric);
}

TEST(NqmExplicitSpectrum, BadSpectraAndSampledModeAreRefused) {
  const Groups g = groups();
  TrialSpec s = with_spectrum(spec("sgd", 0.5, 8, 0.3), g.folded);
  s.landscape.dim = 6;
  EXPECT_THROW(validate(s), optim::ConfigError);
  NqmSpectrum neg = g.folded;
  neg.h[2] = -0.1;
  EXPECT_THROW(validate(with_spectrum(spec("sgd", 0.5, 8, 0.3), neg)), optim::ConfigError);
  TrialSpec sampled = with_spectrum(spec("sgd", 0.5, 8, 0.3), g.folded);
  sampled.mode = "sampled";
  EXPECT_THROW(validate(sampled), optim::ConfigError);
}

namespace {

// A measurement whose truth is known: top 4 eigenvalues, a tail of SLQ-like nodes (two of them
// non-positive), tail noise c = 0.3 theta^1.5 per direction and an initial error
// sigma h^-0.5 per direction, from which the measured traces, |G|^2 and gap follow.
struct Planted {
  SpectrumMeasurement m;
  std::vector<double> h, mult;  // the kept directions
};
Planted planted_measurement() {
  Planted p;
  SpectrumMeasurement& m = p.m;
  m.parameters = 1004;
  m.top_h = {40.0, 12.0, 6.0, 3.0};
  m.top_c = {5.0, 1.0, 2.0, 0.5};
  m.tail_nodes = {-0.2, 0.0, 0.01, 0.1, 0.5, 1.5};
  m.tail_weights = {0.05, 0.15, 0.4, 0.25, 0.1, 0.05};
  p.h = m.top_h;
  p.mult = {1, 1, 1, 1};
  for (std::size_t j = 0; j < m.tail_nodes.size(); ++j) {
    if (!(m.tail_nodes[j] > 0.0)) continue;
    const double mj = 1000.0 * m.tail_weights[j], th = m.tail_nodes[j];
    m.tail_trace_sigma += mj * 0.3 * std::pow(th, 1.5);
    m.tail_trace_h_sigma += mj * th * 0.3 * std::pow(th, 1.5);
    p.h.push_back(th);
    p.mult.push_back(mj);
  }
  m.loss_gap_init = 2.3;
  m.loss_gap_target = 0.4;
  double shape = 0.0, g2 = 0.0;
  for (std::size_t i = 0; i < p.h.size(); ++i) {
    shape += p.mult[i] * p.h[i] * std::pow(p.h[i], -0.5);
    g2 += p.mult[i] * p.h[i] * p.h[i] * std::pow(p.h[i], -0.5);
  }
  m.grad_sq = g2 * 2.0 * 2.3 / shape;
  return p;
}

}  // namespace

TEST(NqmCalibration, RecoversThePlantedLawsAndMatchesTheInitialLossGradientAndTarget) {
  const Planted p = planted_measurement();
  const SpectrumMeasurement& m = p.m;
  const CalibratedNqm n = calibrate_nqm(m);
  EXPECT_NEAR(n.noise_beta, 1.5, 1e-9);
  EXPECT_NEAR(n.noise_a, 0.3, 1e-9);
  EXPECT_NEAR(n.s0_gamma, 0.5, 1e-9);
  EXPECT_FALSE(n.noise_beta_clamped);
  EXPECT_FALSE(n.s0_gamma_clamped);
  ASSERT_EQ(n.top_dimensions, 4);
  ASSERT_EQ(n.spectrum->h.size(), 4 + 4);  // 4 top + 4 positive nodes
  // Dropped: the nodes at -0.2 and 0 (0.05 + 0.15 of 1000 directions).
  EXPECT_NEAR(n.dropped_directions, 200.0, 1e-9);
  EXPECT_NEAR(n.dropped_trace, -0.2 * 50.0, 1e-9);
  const auto& sp = *n.spectrum;
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(n.multiplicity[static_cast<std::size_t>(i)], 1.0);
    EXPECT_NEAR(sp.c[i], m.top_c[static_cast<std::size_t>(i)], 1e-12);  // measured, kept as is
  }
  EXPECT_NEAR(n.multiplicity[4], 400.0, 1e-9);
  EXPECT_NEAR(sp.c[4], 400.0 * 0.3 * std::pow(0.01, 1.5), 1e-9 * sp.c[4]);
  EXPECT_NEAR(sp.s0[4], 400.0 * n.s0_sigma * std::pow(0.01, -0.5), 1e-9 * sp.s0[4]);
  // The tail carries the measured noise traces; the NQM starts with the real gap and |G|^2, so
  // its initial B_simple is the measured tr(Sigma) / |G|^2.
  EXPECT_NEAR(sp.c.tail(4).sum(), m.tail_trace_sigma, 1e-10 * m.tail_trace_sigma);
  EXPECT_NEAR((sp.h * sp.c).tail(4).sum(), m.tail_trace_h_sigma, 1e-9 * m.tail_trace_h_sigma);
  EXPECT_NEAR(0.5 * (sp.h * sp.s0).sum(), 2.3, 1e-12);
  EXPECT_NEAR((sp.h.square() * sp.s0).sum(), m.grad_sq, 1e-10 * m.grad_sq);
  const double trace_sigma = 5.0 + 1.0 + 2.0 + 0.5 + m.tail_trace_sigma;
  EXPECT_NEAR(n.initial_b_simple, trace_sigma / m.grad_sq, 1e-9 * n.initial_b_simple);
  EXPECT_NEAR(n.initial_b_noise, (sp.h * sp.c).sum() / (sp.h.cube() * sp.s0).sum(), 1e-12);
  EXPECT_NEAR(n.trace_h_positive, 40 + 12 + 6 + 3 + 1000 * (0.4 * 0.01 + 0.25 * 0.1 + 0.1 * 0.5 + 0.05 * 1.5), 1e-9);
  EXPECT_EQ(n.target, 0.4);
  TrialSpec s = with_spectrum(spec("momentum", 0.01, 64, n.target), sp);
  s.optimizer.momentum = 0.9;
  EXPECT_NEAR(nqm_expected_loss_stepwise(s, 0)[0], 2.3, 1e-12);
  EXPECT_EQ(run_trial(s).status, TrialStatus::kReached);
}

TEST(NqmCalibration, UnreachableRatiosAreMetAtTheRangeEndAndFlagged) {
  Planted p = planted_measurement();
  p.m.grad_sq *= 1e6;  // a mean curvature far above the largest eigenvalue
  p.m.tail_trace_h_sigma = 0.0;  // noise-weighted mean curvature 0: below every node
  const CalibratedNqm n = calibrate_nqm(p.m);
  EXPECT_TRUE(n.s0_gamma_clamped);
  EXPECT_EQ(n.s0_gamma, -4.0);
  EXPECT_TRUE(n.noise_beta_clamped);
  EXPECT_EQ(n.noise_beta, -4.0);
  EXPECT_NEAR(0.5 * (n.spectrum->h * n.spectrum->s0).sum(), 2.3, 1e-12);  // the gap is still matched
}

TEST(NqmCalibration, ImpossibleInputsAreRefused) {
  SpectrumMeasurement m = planted_measurement().m;
  m.loss_gap_target = 2.5;  // above the initial gap
  EXPECT_THROW(calibrate_nqm(m), std::invalid_argument);
  m = planted_measurement().m;
  m.top_c.pop_back();
  EXPECT_THROW(calibrate_nqm(m), std::invalid_argument);
  m = planted_measurement().m;
  m.parameters = 2;
  EXPECT_THROW(calibrate_nqm(m), std::invalid_argument);
  m = planted_measurement().m;
  m.tail_trace_sigma = -1.0;
  EXPECT_THROW(calibrate_nqm(m), std::invalid_argument);
  m = planted_measurement().m;
  m.grad_sq = 0.0;
  EXPECT_THROW(calibrate_nqm(m), std::invalid_argument);
}

}  // namespace batchlab::sim
