#include "experiments/engine/branch_sim.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <utility>

#include "sim/nqm.h"

namespace batchlab::experiments {

SimBranchRunner::SimBranchRunner(sim::TrialSpec base) : base_(std::move(base)), schedule_(base_.batch_schedule) {
  base_.targets.clear();
  base_.record_curve = false;
  // Never reached: the trial runs to max_steps and reports its metric there.
  base_.target = std::numeric_limits<double>::lowest();
}

double SimBranchRunner::loss_after(const optim::BatchScheduleConfig& schedule, std::int64_t steps,
                                   const std::string& /*label*/) {
  sim::TrialSpec s = base_;
  s.batch_schedule = schedule;
  s.max_steps = steps;
  s.eval_every = std::max<std::int64_t>(steps, 1);
  ++trials_;
  if (s.mode == "analytic") return sim::nqm_expected_loss_stepwise(s, steps).back();
  sim::validate(s);
  return sim::run_validated_trial(s).final_metric;
}

double SimBranchRunner::loss_at_branch_point() { return loss_after(schedule_, step_, "branch_point"); }

void SimBranchRunner::advance(const optim::BatchScheduleConfig& schedule, std::int64_t steps) {
  schedule_ = schedule;
  step_ = steps;
}

NqmBend nqm_bend_at(const sim::TrialSpec& base, std::int64_t step, double target,
                    const std::vector<std::int64_t>& batch_sizes, const std::vector<double>& lrs) {
  auto seen = std::make_shared<const sim::NqmSpectrum>(sim::nqm_spectrum_at(base, step));
  sim::TrialSpec s = base;
  s.landscape.spectrum = seen;
  s.landscape.dim = seen->h.size();
  s.batch_schedule = {};
  s.schedule = {};
  s.targets.clear();
  s.record_curve = false;
  s.target = target;
  NqmBend out;
  for (std::int64_t b : batch_sizes) {
    s.batch_size = b;
    s.max_steps = base.max_steps;
    std::int64_t best = -1;
    double best_lr = 0.0;
    for (double lr : lrs) {
      s.lr = lr;
      if (best >= 0) s.max_steps = best;  // only a faster lr matters
      const sim::TrialResult r = sim::run_trial(s);
      if (r.status == sim::TrialStatus::kReached && (best < 0 || r.steps_to_target < best)) {
        best = r.steps_to_target;
        best_lr = lr;
      }
    }
    if (best > 0) {
      out.batch_sizes.push_back(static_cast<double>(b));
      out.steps.push_back(static_cast<double>(best));
      out.best_lr.push_back(best_lr);
    }
  }
  out.fit = fit_critical_batch(out.batch_sizes, out.steps);
  return out;
}

}  // namespace batchlab::experiments
