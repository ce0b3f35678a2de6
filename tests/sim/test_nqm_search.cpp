// Analytic NQM, SGD / precond fast path: the search first locates the root on an approximate
// E[L(t)] (cheap FMA exp), then checks it with exact passes. Whatever the approximation says,
// the answers must be the exact recursion's: long trials (answers up to ~1e5 steps, where a
// relative error of the approximation moves the root the most) and max_steps right at the
// answer (N - 1: not reached, N and N + 1: reached at N).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "sim/nqm.h"
#include "sim/trial.h"

namespace batchlab::sim {
namespace {

TrialSpec spec(const std::string& opt, double lr, std::int64_t batch, std::int64_t dim) {
  TrialSpec s;
  s.mode = "analytic";
  s.landscape.kind = "nqm";
  s.landscape.dim = dim;
  s.optimizer.name = opt;
  s.optimizer.precond_power = 0.5;
  s.lr = lr;
  s.batch_size = batch;
  s.target = 0.02;
  s.max_steps = 400000;
  return s;
}

TEST(NqmSearch, LongTrialsMatchStepwise) {
  int reached = 0;
  for (const std::string opt : {"sgd", "precond"})
    for (std::int64_t batch : {4, 4096})
      for (int j = 0; j < 7; ++j) {
        const double lr = 2e-4 * std::pow(10.0, 2.5 * j / 6.0);
        const TrialSpec s = spec(opt, lr, batch, 48);
        const TrialResult fast = run_nqm_analytic(s);
        const TrialResult slow = run_nqm_analytic(s, /*force_stepwise=*/true);
        const std::string what = opt + " B " + std::to_string(batch) + " lr " + std::to_string(lr);
        ASSERT_EQ(to_string(fast.status), to_string(slow.status)) << what;
        EXPECT_EQ(fast.steps_to_target, slow.steps_to_target) << what;
        EXPECT_NEAR(fast.final_metric, slow.final_metric, 1e-9 * slow.final_metric) << what;
        if (slow.status == TrialStatus::kReached && slow.steps_to_target > 20000) ++reached;
      }
  EXPECT_GE(reached, 6);  // long answers present, or this tests less than it says
}

TEST(NqmSearch, MaxStepsAtTheAnswer) {
  for (const std::string opt : {"sgd", "precond"})
    for (double lr : {0.03, 0.1}) {
      TrialSpec s = spec(opt, lr, 4096, 300);
      const TrialResult ref = run_nqm_analytic(s, /*force_stepwise=*/true);
      ASSERT_EQ(ref.status, TrialStatus::kReached) << opt << " lr " << lr;
      const std::int64_t n = ref.steps_to_target;
      ASSERT_GT(n, 10);
      for (std::int64_t ms : {n - 1, n, n + 1}) {
        s.max_steps = ms;
        const TrialResult fast = run_nqm_analytic(s);
        const TrialResult slow = run_nqm_analytic(s, /*force_stepwise=*/true);
        const std::string what = opt + " lr " + std::to_string(lr) + " max_steps " + std::to_string(ms);
        EXPECT_EQ(to_string(fast.status), ms < n ? "not_reached" : "reached") << what;
        EXPECT_EQ(to_string(fast.status), to_string(slow.status)) << what;
        EXPECT_EQ(fast.steps_to_target, slow.steps_to_target) << what;
        EXPECT_NEAR(fast.final_metric, slow.final_metric, 1e-9 * slow.final_metric) << what;
      }
    }
}

}  // namespace
}  // namespace batchlab::sim
