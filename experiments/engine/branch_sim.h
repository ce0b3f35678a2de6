// The simulator's side of the branched critical-batch test (branching.h): where a branch's loss
// comes from when the run is a simulated trial. A simulated run is deterministic in its spec, so
// its "checkpoint" at step t is the trial itself recomputed to t: a branch is the trial with the
// branch's batch schedule (the same run up to the branch point, bit for bit, in both modes),
// evaluated after the branch's last update. Analytic NQM: the exact E[L(t)] (the step-by-step
// recursion); sampled mode: the landscape's metric, one seed.
//
// And the answer the test should find on the analytic NQM: the S(B) bend at the branch point
// (nqm_bend_at), from the NQM seen from there (sim::nqm_spectrum_at).
#pragma once

#include <cstdint>
#include <vector>

#include "experiments/engine/branching.h"
#include "experiments/engine/fit.h"
#include "sim/trial.h"

namespace batchlab::experiments {

class SimBranchRunner : public WarmupRunner {
 public:
  // `base`: a validated trial; its batch_size, lr (scaling applied), schedule and seed are the
  // run's. The branch point starts at step 0 of its own batch schedule.
  explicit SimBranchRunner(sim::TrialSpec base);
  double loss_after(const optim::BatchScheduleConfig& schedule, std::int64_t steps, const std::string& label) override;
  double loss_at_branch_point() override;
  void advance(const optim::BatchScheduleConfig& schedule, std::int64_t steps) override;
  std::int64_t trials_run() const { return trials_; }

 private:
  sim::TrialSpec base_;
  optim::BatchScheduleConfig schedule_;
  std::int64_t step_ = 0;
  std::int64_t trials_ = 0;
};

// McCandlish et al.'s S(B) at a point of an analytic NQM run (sgd or precond without momentum):
// from the NQM seen from step `step` of `base`, the exact steps to `target` per batch size,
// minimised over `lrs` (constant lr), and the fit S(B) = S_min (1 + B_crit / B) over the
// batch sizes that reach it.
struct NqmBend {
  std::vector<double> batch_sizes, steps, best_lr;  // reached batch sizes only
  CriticalBatchFit fit;
};
NqmBend nqm_bend_at(const sim::TrialSpec& base, std::int64_t step, double target,
                    const std::vector<std::int64_t>& batch_sizes, const std::vector<double>& lrs);

}  // namespace batchlab::experiments
