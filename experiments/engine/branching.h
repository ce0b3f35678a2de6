// Branched critical-batch measurement and the batch warm-up it drives (Merrill, Arora,
// Groeneveld, Hajishirzi 2025, "Critical Batch Size Revisited"), written once for the simulator
// and the trainer: they differ only in the BranchRunner, i.e. where the losses come from.
//
// The test at a branch point (a checkpoint after `step` updates of a run at batch B and lr eta):
//   reference: the run continued unchanged for N examples (N / B updates), loss L_ref;
//   branch k:  the run continued at batch k B, lr eta x coupling(k), for N examples
//              (N / (k B) updates, rounded down, at least 1), loss L_k;
//   gap_k:     absolute  L_k - L_ref                          (Merrill et al.: a loss tolerance)
//              relative  (L_k - L_ref) / L_ref
//              progress  (L_k - L_ref) / (L_0 - L_ref)          L_0 = loss at the branch point:
//                        the share of the reference's loss decrease the branch fails to make;
//   accepted:  gap_k <= epsilon.
// Estimate: B_branch = k* B for the largest k* such that every factor up to k* is accepted (a
// rejected factor ends the scan, so one noisy acceptance above a rejection does not count);
// B (with below_first = true) when the first factor is rejected.
//
// Why `progress` with epsilon = 1/2 estimates McCandlish et al.'s B_crit: with E(B) =
// E_min (1 + B / B_crit), N examples at batch B' do the work of N (1 + B/B_crit)/(1 + B'/B_crit)
// examples at B; for B << B_crit and a loss that falls about linearly over the window, the branch
// makes half the reference's progress exactly at B' = B_crit. (A convex loss curve lets it make
// slightly more, so the estimate leans high; tests/experiments/branching_test.cpp checks it
// against the analytic NQM's S(B) bend.)
//
// The lr coupling of a branch is optim::LrCoupling through optim::BatchSchedule: a branch is the
// run with a batch schedule that multiplies the batch by k at the examples of the branch point,
// so the lr is eta x k (linear) or eta x sqrt(k) (sqrt). branch_lr_coupling says which rule a run
// gets: its batch_lr_coupling when set, else its lr scaling rule (linear -> linear, sqrt and
// malladi -> sqrt), else the optimizer's family (Adam-like -> sqrt, as Merrill et al. and
// Malladi et al. 2022; SGD-like -> linear, Goyal et al. 2017).
//
// The warm-up (Merrill et al. Section 5): every `every_examples` examples, test factor 2 at the
// run's current batch; when accepted the run doubles its batch (lr coupled) from there on.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "optim/batch_schedule.h"
#include "optim/scaling.h"

namespace batchlab::experiments {

enum class BranchGap { kAbsolute, kRelative, kProgress };
BranchGap parse_branch_gap(const std::string& s);  // throws ConfigError naming branch-gap
std::string to_string(BranchGap g);

struct BranchSettings {
  std::vector<std::int64_t> factors;  // k: >= 2, strictly increasing
  std::int64_t examples = 0;          // N > 0
  double epsilon = 0.0;               // > 0
  BranchGap gap = BranchGap::kProgress;
  optim::LrCoupling coupling = optim::LrCoupling::kSqrt;
};

// Throws optim::ConfigError with one line naming the option (prefix + "factors" etc.) and value.
void validate(const BranchSettings& s, const std::string& prefix = "--branch-");
// "2,4,8" -> {2, 4, 8}; throws ConfigError naming prefix + "factors" for anything else, a
// factor < 2 or factors not strictly increasing.
std::vector<std::int64_t> parse_branch_factors(const std::string& text, const std::string& prefix = "--branch-");

// The coupling rule a run's branches use (see above); `why` (if not null) gets a few words on
// where it came from, for the log and branch.json.
optim::LrCoupling branch_lr_coupling(optim::LrCoupling configured, optim::ScalingKind scaling,
                                     const std::string& optimizer, std::string* why = nullptr);

// The run at its branch point: `step` updates done at `batch_schedule` over base batch
// `base_batch` with base lr `base_lr` (before the coupling), `examples` = examples of those steps.
struct BranchPoint {
  std::int64_t step = 0;
  std::int64_t examples = 0;
  std::int64_t base_batch = 0;
  double base_lr = 0.0;
  optim::BatchScheduleConfig batch_schedule;  // the run's own (empty milestones: constant)
  std::int64_t multiple_of = 1;               // workers / ranks (BatchSchedule's rounding)
};

// Where losses come from: the simulator (a trial with that batch schedule, the same run up to the
// branch point) or the trainer (resumed from the checkpoint with that batch schedule).
class BranchRunner {
 public:
  virtual ~BranchRunner() = default;
  // The loss after `steps` updates of the run whose batch schedule is `schedule` (over the
  // branch point's base batch and lr) and which equals the branched-from run up to the branch
  // point. `label` names the branch ("reference", "k4") for files and logs.
  virtual double loss_after(const optim::BatchScheduleConfig& schedule, std::int64_t steps,
                            const std::string& label) = 0;
  // The loss at the branch point itself (L_0).
  virtual double loss_at_branch_point() = 0;
};

struct BranchRow {
  std::int64_t factor = 1, batch = 0, steps = 0, examples = 0;
  double lr = 0.0, loss_branch = 0.0, loss_reference = 0.0, gap = 0.0;
  bool accepted = false;
};

struct BranchReport {
  BranchPoint point;
  BranchSettings settings;
  std::int64_t batch = 0;  // the run's batch at the branch point
  double lr = 0.0;         // and its lr (coupled)
  double loss_at_branch = 0.0, loss_reference = 0.0;
  std::int64_t reference_steps = 0;
  std::vector<BranchRow> rows;
  std::int64_t b_branch = 0;  // the estimate (see above)
  bool below_first = false;   // the first factor was rejected: b_branch = batch is an upper bound
};

// The batch schedule of the branch with factor k (k = 1: the reference): the run's own schedule
// with the batch multiplied by k from the branch point on. Needs a constant-batch run for k
// other than a power of the run's own factor (throws ConfigError saying so).
optim::BatchScheduleConfig branch_schedule(const BranchPoint& p, std::int64_t k);

// Runs the reference and every branch through `runner` (validate(settings) first).
BranchReport run_branch_test(const BranchPoint& point, const BranchSettings& settings, BranchRunner& runner);

// branches.csv: one row per factor (factor, batch, lr, steps, examples, loss_branch,
// loss_reference, gap, accepted) and branch.json: the settings, the branch point, L_0, the
// estimate and `extra` merged in (e.g. the analytic B_crit). Atomic writes.
void write_branch_report(const std::filesystem::path& dir, const BranchReport& r,
                         const nlohmann::json& extra = nlohmann::json::object());

// ---- CBS-driven batch warm-up ----

struct WarmupSettings {
  std::int64_t every_examples = 0;  // test every this many examples (> 0)
  std::int64_t total_examples = 0;  // the run's length (> every_examples)
  std::int64_t max_batch = 0;       // never grow beyond (0: no cap)
  BranchSettings test;              // factors = {2}; examples, epsilon, gap, coupling as the branch test
};
void validate(const WarmupSettings& s, const std::string& prefix = "--warmup-");

// The warm-up run itself: the runner trains it (the trainer: continues its checkpoint; the
// simulator: nothing to do, it recomputes) and branches from where it stands.
class WarmupRunner : public BranchRunner {
 public:
  // Moves the run's branch point to `steps` updates under `schedule` (more steps than before).
  virtual void advance(const optim::BatchScheduleConfig& schedule, std::int64_t steps) = 0;
};

struct WarmupDecision {
  std::int64_t step = 0, examples = 0, batch = 0;
  double lr = 0.0, loss_at_branch = 0.0, loss_reference = 0.0, loss_branch = 0.0, gap = 0.0;
  bool accepted = false;
};
struct WarmupResult {
  optim::BatchScheduleConfig schedule;  // the batch schedule the warm-up arrived at (factor 2)
  std::vector<WarmupDecision> decisions;
  std::int64_t steps = 0, examples = 0;  // of the whole run
  std::int64_t final_batch = 0;          // the batch of its last update
  double final_loss = 0.0;
};

// Starts at `start` (step 0, the base batch) and runs to total_examples (the last update may
// overshoot by less than one batch), testing and doubling as above.
WarmupResult run_cbs_warmup(const BranchPoint& start, const WarmupSettings& s, WarmupRunner& runner);

// warmup.csv (one row per decision) and warmup.json (the resulting schedule, steps, examples,
// final loss). Atomic writes.
void write_warmup_report(const std::filesystem::path& dir, const WarmupResult& r, const WarmupSettings& s,
                         const nlohmann::json& extra = nlohmann::json::object());

}  // namespace batchlab::experiments
