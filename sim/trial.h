// A simulated trial: one (landscape, optimizer config, batch size, lr, momentum, seed) run until
// the test metric crosses the target or max_steps. The study engine (experiments/) builds the
// grid of TrialSpecs, validates them and calls run_validated_trial on a thread pool; this is the
// only entry it needs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "optim/batch_schedule.h"
#include "optim/config.h"
#include "optim/schedule.h"
#include "optim/sync_policy.h"
#include "optim/trial_status.h"

namespace batchlab::sim {

struct NqmSpectrum;  // sim/nqm.h

struct LandscapeConfig {
  std::string kind = "nqm";  // nqm | linreg | logreg | mlp
  // Noisy quadratic model (Zhang et al. 2019): h_i = i^-curvature_power,
  // c_i = i^-noise_power (per-example noise variance), E[theta_0,i^2] = init_variance.
  std::int64_t dim = 10000;
  double curvature_power = 1.0;
  double noise_power = 1.0;
  double init_variance = 1.0;
  // An explicit NQM spectrum (h_i, c_i, E[theta_0,i^2] per dimension), e.g. one calibrated on a
  // real network (sim/nqm_calibration.h). When set it replaces the power laws above (dim must
  // equal its size) and the landscape runs in analytic mode only. Shared, immutable: a study's
  // trials all point at one copy.
  std::shared_ptr<const NqmSpectrum> spectrum;
  int layers = 1;  // sampled NQM: dimensions grouped into this many layers (groups)
  // Sampled NQM with layers > 1: layer l's coordinates are rescaled by
  // s_l = layer_scale_spread^(l/(layers-1) - 1/2), so layers differ in curvature and parameter
  // norm and LARS/LAMB have something to adapt (see sim/nqm_sampled.h).
  double layer_scale_spread = 10.0;
  // Finite-sum problems (linreg, logreg, mlp): synthetic Gaussian data from a teacher.
  std::int64_t train_examples = 8192;
  std::int64_t test_examples = 2048;
  std::int64_t input_dim = 32;
  std::vector<std::int64_t> hidden = {64, 64};  // mlp hidden widths (student and teacher)
  double label_noise = 0.1;   // linreg / mlp: label noise std; logreg: label flip probability
  std::uint64_t data_seed = 0;  // the dataset is drawn from this, not from the trial seed
};

// How a trial ended (optim/trial_status.h: one enum and its text for sim, realtrain and experiments).
using optim::TrialStatus;
using optim::to_string;

struct TrialSpec {
  std::string study;
  std::string optimizer_label;   // as written in results (e.g. "momentum", "lamb:paper")
  LandscapeConfig landscape;
  optim::OptimizerConfig optimizer;  // name, momentum etc. (momentum already set from the grid)
  std::string mode = "analytic";    // analytic | sampled
  std::int64_t batch_size = 1;      // global batch (workers x per-worker batch)
  double lr = 0.1;                  // base lr at this batch size (scaling already applied)
  double ema_decay = 0.0;           // gamma of iterate EMA (optimizer "ema"); 0 = off
  optim::ScheduleConfig schedule;   // warm-up and decay around lr
  // Batch growth (Smith et al. 2018): batch_size is the first phase's batch; phases are rounded to
  // multiples of workers. Steps stay updates; examples come from optim::BatchSchedule.
  optim::BatchScheduleConfig batch_schedule;
  optim::SyncPolicy sync;           // sampled mode with workers > 1
  int workers = 1;                  // simulated data-parallel workers (sampled mode)
  int node_size = 0;                // hierarchical: workers per node (0 = workers)
  std::uint64_t seed = 0;
  double target = 0.01;             // metric threshold: reached when metric < target
  // Several targets (a several-target study): the trial runs until the metric is below all of
  // them (target must be their minimum) and reports each one's first crossing in
  // TrialResult::per_target, in this order: analytic mode exactly (one search per target), sampled
  // mode at its evaluations. Each entry equals the result of a trial with that single target.
  std::vector<double> targets;
  std::int64_t max_steps = 100000;
  std::int64_t eval_every = 1;      // sampled mode: evaluate the metric every this many steps
  bool record_curve = false;        // fill TrialResult::curve (log-spaced steps)
};

struct CurvePoint {
  std::int64_t step;
  double lr;
  double metric;
};

// The trial with respect to one of TrialSpec::targets.
struct TargetResult {
  TrialStatus status = TrialStatus::kNotReached;
  std::int64_t steps_to_target = -1;  // -1 unless reached
  double final_metric = 0.0;          // at the crossing if reached, else where the trial ended
};

struct TrialResult {
  TrialStatus status = TrialStatus::kNotReached;
  std::int64_t steps_to_target = -1;  // -1 unless reached
  double final_metric = 0.0;          // at steps_to_target if reached, else at the last step
  double wall_s = 0.0;
  // Sampled mode with workers > 1: payload bytes one worker sent (SyncPolicy::bytes_sent at 4
  // bytes a value; DiLoCo's quantised codes and scales) up to steps_to_target, else to the end.
  std::int64_t comm_bytes = 0;
  std::vector<CurvePoint> curve;
  std::vector<TargetResult> per_target;  // one per TrialSpec::targets entry (else empty)
};

// Throws optim::ConfigError for an impossible spec (before any work).
void validate(const TrialSpec& spec);
// Runs one trial; deterministic given spec (RNG streams derived from spec.seed by hashing).
// validate(spec) first, then run_validated_trial(spec).
TrialResult run_trial(const TrialSpec& spec);
// Runs a trial whose spec has passed validate(), without checking it again: a study validates
// every trial of its grid once, before the first one runs (experiments/engine/sweep_config.h).
TrialResult run_validated_trial(const TrialSpec& spec);

}  // namespace batchlab::sim
