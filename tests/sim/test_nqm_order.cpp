// Analytic NQM, SGD / precond fast path: a trial's result must not depend on what its thread
// ran before. The thread keeps state across trials (the ln rho arrays of recent lrs, keyed by
// dim, curvature power, precond power and lr, and the last lr x steps as a Newton start), so
// every result of a mixed grid run in one thread, forwards and backwards, must equal bitwise the
// result of the same trial run alone in a fresh thread. A cache key that missed a field (say the
// precond power) would hand a trial another landscape's ln rho and fail here.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "sim/trial.h"

namespace batchlab::sim {
namespace {

std::vector<TrialSpec> mixed_grid() {
  std::vector<TrialSpec> out;
  struct Opt {
    std::string name;
    double power;
  };
  const Opt opts[] = {{"sgd", 0.5}, {"precond", 0.5}, {"precond", 0.25}};
  for (double curvature : {1.0, 1.5})
    for (std::int64_t batch : {4, 64, 4096})
      for (int j = 0; j < 9; ++j)
        for (const Opt& o : opts) {  // same lr, landscape changing: every key field matters
          TrialSpec s;
          s.mode = "analytic";
          s.landscape.kind = "nqm";
          s.landscape.dim = 1500;
          s.landscape.curvature_power = curvature;
          s.optimizer.name = o.name;
          s.optimizer.precond_power = o.power;
          s.batch_size = batch;
          s.lr = std::pow(10.0, -3.0 + 3.6 * j / 8.0);
          s.target = 0.02;
          s.max_steps = 2000000;
          out.push_back(s);
        }
  return out;
}

TrialResult run_alone(const TrialSpec& s) {
  TrialResult r;
  std::thread t([&] { r = run_trial(s); });
  t.join();
  return r;
}

void expect_same(const TrialResult& got, const TrialResult& want, const TrialSpec& s) {
  const std::string what = s.optimizer.name + " p=" + std::to_string(s.optimizer.precond_power) +
                           " curv=" + std::to_string(s.landscape.curvature_power) +
                           " B=" + std::to_string(s.batch_size) + " lr=" + std::to_string(s.lr);
  EXPECT_EQ(got.status, want.status) << what;
  EXPECT_EQ(got.steps_to_target, want.steps_to_target) << what;
  // Bitwise (NaN never occurs here; +inf for diverged compares equal).
  EXPECT_EQ(got.final_metric, want.final_metric) << what;
}

TEST(NqmOrder, FastPathResultsDoNotDependOnEarlierTrialsOfTheThread) {
  const std::vector<TrialSpec> specs = mixed_grid();
  std::vector<TrialResult> alone;
  for (const auto& s : specs) alone.push_back(run_alone(s));
  int reached = 0, not_reached = 0, diverged = 0;
  for (const auto& r : alone) {
    reached += r.status == TrialStatus::kReached;
    not_reached += r.status == TrialStatus::kNotReached;
    diverged += r.status == TrialStatus::kDiverged;
  }
  // The grid exercises every outcome (otherwise the comparison below proves little).
  EXPECT_GT(reached, 40);
  EXPECT_GT(not_reached, 5);
  EXPECT_GT(diverged, 5);

  std::vector<TrialResult> fwd(specs.size()), bwd(specs.size());
  std::thread t([&] {
    for (std::size_t i = 0; i < specs.size(); ++i) fwd[i] = run_trial(specs[i]);
    for (std::size_t i = specs.size(); i-- > 0;) bwd[i] = run_trial(specs[i]);
  });
  t.join();
  for (std::size_t i = 0; i < specs.size(); ++i) {
    expect_same(fwd[i], alone[i], specs[i]);
    expect_same(bwd[i], alone[i], specs[i]);
  }
}

}  // namespace
}  // namespace batchlab::sim
