// The default NQM study (Zhang et al. 2019 setting: d = 1e4, h_i = 1/i, c_i = h_i, target 0.01)
// reproduces the paper's qualitative findings (docs/science.md#what-zhang-et-al-found): SGD's best
// lr grows linearly in B and then saturates near 2/h_max; momentum and preconditioning move the
// critical batch up; EMA helps at small B. B_crit comes from fitting S(B) = S_min (1 + B_crit/B)
// by least squares on log S, done here so the test does not depend on the study engine.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "sim/trial.h"

namespace batchlab::sim {
namespace {

struct Best {
  double lr = 0.0;
  std::int64_t steps = -1;
};

std::map<std::int64_t, Best> best_per_batch(const std::string& opt, double momentum, double ema) {
  std::map<std::int64_t, Best> out;
  const int n_lr = 48;
  for (int e = 2; e <= 20; e += 2) {
    Best b;
    for (int j = 0; j < n_lr; ++j) {
      TrialSpec s;
      s.mode = "analytic";
      s.landscape.dim = 10000;
      s.optimizer.name = opt;
      s.optimizer.momentum = momentum;
      s.ema_decay = ema;
      s.batch_size = std::int64_t{1} << e;
      s.lr = std::pow(10.0, -4.0 + 4.6 * j / (n_lr - 1));  // 1e-4 .. 4
      s.target = 0.01;
      s.max_steps = 100000000;
      const TrialResult r = run_trial(s);
      if (r.status == TrialStatus::kReached && (b.steps < 0 || r.steps_to_target < b.steps))
        b = {s.lr, r.steps_to_target};
    }
    out[std::int64_t{1} << e] = b;
  }
  return out;
}

// Least squares on log S over B_crit (scanned finely in log space); S_min is then closed form.
double fit_b_crit(const std::map<std::int64_t, Best>& best) {
  double best_err = INFINITY, best_bc = 0.0;
  for (double lbc = -2.0; lbc <= 30.0; lbc += 0.01) {
    const double bc = std::exp2(lbc);
    double mean = 0.0;
    for (const auto& [B, v] : best) mean += std::log(double(v.steps)) - std::log1p(bc / double(B));
    mean /= double(best.size());
    double err = 0.0;
    for (const auto& [B, v] : best) {
      const double r = std::log(double(v.steps)) - mean - std::log1p(bc / double(B));
      err += r * r;
    }
    if (err < best_err) best_err = err, best_bc = bc;
  }
  return best_bc;
}

TEST(NqmStudy, DefaultConfigReproducesZhangEtAlFindings) {
  const auto sgd = best_per_batch("sgd", 0.0, 0.0);
  const auto mom = best_per_batch("momentum", 0.9, 0.0);
  const auto pre = best_per_batch("precond", 0.0, 0.0);
  const auto ema = best_per_batch("ema", 0.0, 0.9);
  for (const auto* m : {&sgd, &mom, &pre, &ema})
    for (const auto& [B, v] : *m) ASSERT_GT(v.steps, 0) << "B = " << B;
  // Linear scaling at small B: 4x the batch, ~4x the best lr and ~1/4 the steps (grid
  // resolution is 10^(4.6/47) = 1.25x per lr point).
  for (std::int64_t B : {4, 16}) {
    const double lr_ratio = sgd.at(4 * B).lr / sgd.at(B).lr;
    EXPECT_GT(lr_ratio, 4.0 / 1.6) << B;
    EXPECT_LT(lr_ratio, 4.0 * 1.6) << B;
    const double step_ratio = double(sgd.at(B).steps) / double(sgd.at(4 * B).steps);
    EXPECT_GT(step_ratio, 3.5) << B;
  }
  // Saturation: the best lr stops near 2 / h_max = 2 and the steps plateau.
  EXPECT_GT(sgd.at(1 << 20).lr, 1.0);
  EXPECT_LT(sgd.at(1 << 20).lr, 2.0);
  EXPECT_EQ(sgd.at(1 << 20).lr, sgd.at(1 << 18).lr);
  EXPECT_LT(double(sgd.at(1 << 18).steps) / double(sgd.at(1 << 20).steps), 1.05);
  // Momentum and preconditioning: same steps at small B, larger critical batch, lower plateau.
  EXPECT_NEAR(double(mom.at(4).steps) / double(sgd.at(4).steps), 1.0, 0.05);
  const double bc_sgd = fit_b_crit(sgd), bc_mom = fit_b_crit(mom), bc_pre = fit_b_crit(pre);
  EXPECT_GT(bc_mom, 2.0 * bc_sgd) << bc_sgd << " " << bc_mom;
  EXPECT_GT(bc_pre, 2.0 * bc_sgd) << bc_sgd << " " << bc_pre;
  EXPECT_LT(mom.at(1 << 20).steps, sgd.at(1 << 20).steps);
  EXPECT_LT(pre.at(1 << 20).steps, sgd.at(1 << 20).steps);
  // EMA: fewer steps at small batch, no help on the plateau.
  EXPECT_LT(ema.at(4).steps, sgd.at(4).steps);
  EXPECT_LT(ema.at(64).steps, sgd.at(64).steps);
  std::printf("B_crit fit: sgd %.0f momentum %.0f precond %.0f\n", bc_sgd, bc_mom, bc_pre);
}

}  // namespace
}  // namespace batchlab::sim
