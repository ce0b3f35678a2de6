// The analytic NQM against tests/reference/sim_nqm_reference.py, an independent numpy
// computation that propagates the full covariance of (theta, v, theta~) per dimension instead of
// the hand-derived moment recursion. Regenerate the table with
//   python3 tests/reference/sim_nqm_reference.py
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "sim/nqm.h"
#include "sim/trial.h"

namespace batchlab::sim {
namespace {

struct Ref {
  std::string name;
  std::array<double, 4> loss;       // E[L(t)] at t = 1, 10, 100, 1000
  std::array<std::int64_t, 3> first;  // smallest t with E[L] < 0.5, 0.2, 0.12 (-1: none <= 1000)
};

const Ref kRefs[] = {
{"momentum", {0.58093778935185192, 0.36958521142102568, 0.39050578149685639, 0.39050923110902264}, {2, -1, -1}},
{"precond_momentum", {0.82170381567092743, 0.051356999950383467, 0.035129063716541453, 0.03512906371654137}, {2, 3, 4}},
{"sgd_ema", {1.0048928935185186, 0.23316519849962852, 0.053915676078328804, 0.053915674968306584}, {6, 12, 15}},
{"momentum_ema", {1.0566428166666666, 0.11603185900453768, 0.041607091576165482, 0.041607091576123356}, {5, 8, 10}},
};

TrialSpec spec_for(const std::string& name) {
  TrialSpec s;
  s.mode = "analytic";
  s.landscape.dim = 5;
  s.max_steps = 1000;
  if (name == "momentum") {
    s.optimizer.name = "momentum", s.lr = 0.5, s.batch_size = 8, s.optimizer.momentum = 0.9;
  } else if (name == "precond_momentum") {
    s.optimizer.name = "precond", s.lr = 0.2, s.batch_size = 16, s.optimizer.momentum = 0.7;
    s.optimizer.precond_power = 0.5;
  } else if (name == "sgd_ema") {
    s.optimizer.name = "ema", s.lr = 1.0, s.batch_size = 2, s.ema_decay = 0.9;
  } else {
    s.optimizer.name = "ema", s.lr = 0.3, s.batch_size = 4, s.optimizer.momentum = 0.5;
    s.ema_decay = 0.8;
  }
  return s;
}

TEST(NqmReference, ExpectedLossMatchesCovariancePropagation) {
  const std::array<std::int64_t, 4> times = {1, 10, 100, 1000};
  for (const Ref& r : kRefs) {
    const TrialSpec s = spec_for(r.name);
    const auto L = nqm_expected_loss_stepwise(s, 1000);
    for (std::size_t k = 0; k < times.size(); ++k) {
      const double want = r.loss[k];
      EXPECT_NEAR(L[static_cast<std::size_t>(times[k])], want, 1e-12 * want) << r.name << " t=" << times[k];
      if (nqm_has_fast_path(s)) {
        EXPECT_NEAR(nqm_expected_loss_closed(s, times[k]), want, 1e-10 * want) << r.name;
      }
    }
  }
}

TEST(NqmReference, StepsToTargetMatchExhaustiveScan) {
  const std::array<double, 3> targets = {0.5, 0.2, 0.12};
  for (const Ref& r : kRefs) {
    TrialSpec s = spec_for(r.name);
    for (std::size_t k = 0; k < targets.size(); ++k) {
      s.target = targets[k];
      EXPECT_EQ(run_trial(s).steps_to_target, r.first[k]) << r.name << " target " << targets[k];
    }
  }
}

}  // namespace
}  // namespace batchlab::sim
