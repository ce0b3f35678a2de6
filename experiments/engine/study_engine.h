// The study engine: a grid of trials, run on a thread pool through any trial runner, streamed
// in trial order to a sink, and reduced to the best trial per (optimizer, batch size).
//
// Generic over the runner: `batchlab sweep` plugs in the simulator (sim::run_trial), a real
// training study plugs in the trainer; both produce the same TrialOutcome and the same files.
//
// Grid order (trial_id = index in this order): optimizer, batch size, lr, momentum, ema decay,
// seed — seeds innermost, so the seeds of one grid point finish together and the reduction keeps
// only the current point's seeds in memory. Each optimizer has its own momentum and EMA lists
// (a single 0 when the optimizer has no momentum / no EMA), so different optimizers may have
// different numbers of trials.
//
// Reduction (Shallue et al. 2019; Zhang et al. 2019): a grid point's steps-to-target is the
// MEDIAN over its seeds, a seed that did not reach the target counting as +infinity; so a point
// reaches the target when more than half of its seeds do (for an even count, the upper middle
// seed must reach too) and the result is robust to one unlucky seed. Per (optimizer, batch size)
// the best point has the fewest steps; ties go to the smaller lr, then the smaller momentum,
// then the smaller EMA decay (the first in grid order). A best lr at either end of a grid with
// more than one lr is flagged lr_on_edge: the true optimum may lie outside the grid.
//
// Several targets (StudyGrid::targets, `study.targets`): every trial reports its first crossing of
// each target (TrialOutcome::per_target), and the reduction above runs once per target on the
// same trials, so each target gets its own best lr per batch size: the answer a one-target study
// at that target would give, without running the grid again.
//
// Determinism: a trial's outcome depends only on its TrialPoint, and the sink sees outcomes in
// trial_id order whatever the thread count, so every output file is identical for threads = 1
// and threads = N (apart from wall_s).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "optim/batch_schedule.h"
#include "optim/trial_status.h"

namespace batchlab::experiments {

// How a trial ended: reached | not_reached | diverged | failed (optim/trial_status.h, shared with
// sim and the trainer; only a real study's runner reports failed).
using optim::TrialStatus;
using optim::to_string;
using optim::parse_trial_status;

struct OptimizerAxis {
  std::string label;               // as written in results, e.g. "momentum", "lamb:paper"
  std::vector<double> momenta{0.0};
  std::vector<double> ema_decays{0.0};
};

struct TrialPoint {
  std::int64_t trial_id = 0;
  std::size_t optimizer_index = 0;
  std::string optimizer;
  std::size_t batch_index = 0;
  std::int64_t batch_size = 0;
  std::size_t lr_index = 0;
  double lr = 0.0;             // the lr the trial runs with (after scaling, if the grid is scaled)
  double lr_multiplier = 1.0;  // scaled grids: lr / scaling-rule lr; absolute grids: 1
  double momentum = 0.0;
  double ema_decay = 0.0;
  std::size_t seed_index = 0;
  std::uint64_t seed = 0;
};

struct CurveSample {
  std::int64_t step = 0;
  double lr = 0.0;
  double value = 0.0;
};

// A trial's result with respect to one target of a several-target study.
struct TargetOutcome {
  TrialStatus status = TrialStatus::kNotReached;
  std::int64_t steps_to_target = -1;  // -1 unless reached
  double final_metric = 0.0;          // at the crossing if reached, else where the trial ended
};

struct TrialOutcome {
  TrialStatus status = TrialStatus::kNotReached;
  std::int64_t steps_to_target = -1;  // -1 unless reached
  double final_metric = 0.0;
  double wall_s = 0.0;                // measured by the engine around the runner call, unless reused
  std::int64_t comm_bytes = 0;        // payload bytes one worker sent (simulated workers; 0 otherwise)
  // Copied from an earlier study instead of run (`batchlab study`'s study.reuse): wall_s is the
  // original run's, as the runner set it.
  bool reused = false;
  std::string metric;                 // name of the metric in curves.csv (e.g. "loss")
  std::vector<CurveSample> curve;
  // Several-target studies: one entry per StudyGrid::targets entry, in that order; the fields
  // above then describe the trial as it ended (its hardest target). Empty otherwise.
  std::vector<TargetOutcome> per_target;
};

// The outcome at target k: per_target[k], or the trial's own fields in a one-target study.
TargetOutcome target_outcome(const TrialOutcome& o, std::size_t k);
// How a several-target trial ended: diverged if it diverged before some target, reached if it
// reached them all, else not_reached (its hardest target's status).
TrialStatus overall_status(const std::vector<TargetOutcome>& per_target);

using TrialRunner = std::function<TrialOutcome(const TrialPoint&)>;

struct StudyGrid {
  std::string study;
  std::string landscape;
  std::vector<OptimizerAxis> optimizers;
  std::vector<std::int64_t> batch_sizes;  // ascending
  std::vector<double> lr_grid;            // ascending: absolute lrs, or multipliers if lr_scaled
  bool lr_scaled = false;
  std::vector<double> scaled_lr;          // lr_scaled: the scaling rule's lr per batch size
  std::vector<std::uint64_t> seeds;
  // Batch growth during each trial (Smith et al. 2018): batch_sizes are then the first phase's
  // batch and examples differ from steps x batch. Phases round to multiples of batch_multiple.
  optim::BatchScheduleConfig batch_schedule;
  std::int64_t batch_multiple = 1;
  // Several targets (>= 2, in the order given; `study.targets`); empty: the one-target study.
  std::vector<double> targets;

  std::int64_t size() const;
  // Targets the reduction runs for: targets.size(), or 1 for a one-target study.
  std::size_t target_count() const { return targets.empty() ? 1 : targets.size(); }
  // Examples processed by `steps` updates (fractional: a median over seeds) at this batch size.
  double examples(std::int64_t batch_size, double steps) const;
  TrialPoint point(std::int64_t trial_id) const;  // throws std::out_of_range
  // Checks shapes (non-empty axes, scaled_lr sized like batch_sizes); throws std::invalid_argument.
  void check() const;
};

// Called once per trial, in trial_id order, never concurrently.
using TrialSink = std::function<void(const TrialPoint&, TrialOutcome&&)>;

struct EngineOptions {
  int threads = 1;
  // At most this many trials may run ahead of the oldest unfinished one; bounds the reorder
  // buffer (memory) while keeping all threads busy.
  std::int64_t window = 256;
};

// Runs trials [first, grid.size()) and feeds the sink in order. An exception from the runner or
// the sink stops the pool and is rethrown here after every thread has joined.
void run_trials(const StudyGrid& grid, std::int64_t first, const TrialRunner& runner,
                const TrialSink& sink, const EngineOptions& options);

struct BatchBest {
  std::int64_t batch_size = 0;
  // kDiverged only if every trial at B that ran diverged; kFailed only if every trial at B failed.
  TrialStatus status = TrialStatus::kNotReached;
  double steps = std::numeric_limits<double>::infinity();  // median over seeds
  double final_metric = std::numeric_limits<double>::quiet_NaN();
  double lr = std::numeric_limits<double>::quiet_NaN();
  std::int64_t lr_index = -1;
  double momentum = std::numeric_limits<double>::quiet_NaN();
  double ema_decay = std::numeric_limits<double>::quiet_NaN();
  bool lr_on_edge = false;
  int seeds_reached = 0;  // of the best point
  // Trials at B that ran, and those that failed (left out of the reduction: they have no result).
  std::int64_t trials = 0, trials_diverged = 0, trials_failed = 0;
  // The best point's steps per seed (+inf: not reached), for the bootstrap over seeds (fit.h).
  std::vector<double> seed_steps;
};

// Streaming reduction to the best point per (target, optimizer, batch size). O(targets x
// optimizers x batch sizes + seeds) memory, whatever the number of trials.
class BestTracker {
 public:
  explicit BestTracker(const StudyGrid& grid);
  // Trials must come in trial_id order (as run_trials delivers them and trials.csv stores them).
  // A failed trial is counted and otherwise ignored: a point's median is over its seeds that ran,
  // and a point whose seeds all failed is no candidate for the best lr.
  void add(const TrialPoint& p, const TrialOutcome& o);
  // Best per batch size at target k (0 in a one-target study).
  const std::vector<BatchBest>& best(std::size_t optimizer_index, std::size_t target = 0) const {
    return best_[target][optimizer_index];
  }
  // Trials by how they ended (TrialOutcome::status).
  std::int64_t count(TrialStatus s) const { return counts_[static_cast<int>(s)]; }

 private:
  void add_at_target(const TrialPoint& p, const TargetOutcome& o, std::size_t k);

  const StudyGrid& grid_;
  std::vector<std::vector<std::vector<BatchBest>>> best_;  // [target][optimizer][batch]
  std::vector<std::vector<double>> seed_steps_, seed_metrics_;  // [target][seed that ran]
  std::vector<std::size_t> seeds_seen_;  // [target]: of the current point, failed ones included (the order check)
  std::int64_t counts_[4] = {0, 0, 0, 0};
};

double median(std::vector<double> v);  // of a non-empty vector; +inf entries allowed

}  // namespace batchlab::experiments
