// Batch-size schedules: grow the batch during training instead of decaying the lr
// (Smith, Kindermans, Ying, Le 2018, "Don't Decay the Learning Rate, Increase the Batch Size").
//
//   B_k = min(max_batch, round_m(B_0 x factor^k))   after the k-th milestone is passed,
//
// where round_m rounds to the nearest multiple of m (the number of workers/ranks, so every phase
// splits evenly; at least m) and milestones count EXAMPLES processed, as the paper's epochs do:
// phase k starts at the first update whose examples-before count is >= milestone k. Smith et al.
// grow B by 1/decay_factor (e.g. x5 where the lr would have been x0.2); with SGD noise scale
// g ~ lr N / B the two are equivalent per example, and the batch schedule takes fewer updates.
//
// Batch-lr coupling (lr_coupling): the lr of update t is multiplied by
//   none: 1     linear: B_k / B_0 (Goyal et al. 2017)     sqrt: sqrt(B_k / B_0) (Malladi et al. 2022
//   for Adam; Merrill et al. 2025 raise the lr by sqrt(2) per batch doubling in their warm-up),
// with B_k the (rounded, capped) batch of that update, so a growing batch carries its lr along.
//
// Pure functions of the update index, like LrSchedule: a resumed run, the analytic simulator and
// the results writer (examples_to_target) all see the same batch for the same step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace batchlab::optim {

enum class LrCoupling { kNone, kLinear, kSqrt };
// "none" | "linear" | "sqrt"; throws ConfigError naming schedule.batch_lr_coupling.
LrCoupling parse_lr_coupling(const std::string& s);
std::string to_string(LrCoupling c);

struct BatchScheduleConfig {
  std::vector<std::int64_t> milestones;  // examples processed; strictly increasing, > 0
  double factor = 1.0;                   // batch multiplier at each milestone (> 0)
  std::int64_t max_batch = 0;            // cap on the batch (0 = none)
  LrCoupling lr_coupling = LrCoupling::kNone;

  bool constant() const { return milestones.empty(); }
};

class BatchSchedule {
 public:
  // Throws ConfigError (naming schedule.batch_* and the value) for a bad config, a base batch
  // <= 0, a multiple < 1, or a max_batch below the base batch.
  BatchSchedule(std::int64_t base_batch, BatchScheduleConfig cfg, std::int64_t multiple_of = 1);

  // The global batch of the update with 0-based index `step`.
  std::int64_t batch_at(std::int64_t step) const;
  // The lr multiplier of that update under the lr coupling: 1, B_k / B_0 or sqrt(B_k / B_0).
  double lr_factor_at(std::int64_t step) const;
  // Examples processed by updates 0 .. step-1. Fractional steps (medians over seeds) interpolate
  // within a phase.
  double examples_before(double step) const;
  std::int64_t examples_before(std::int64_t step) const;
  // The first update k with examples_before(k) >= examples (0 for examples <= 0): where a
  // milestone or a length given in examples (epochs) falls; with a constant batch B,
  // ceil(examples / B).
  std::int64_t first_step_with_examples(std::int64_t examples) const;
  std::int64_t max_batch() const;  // the largest batch any phase uses
  bool constant() const { return phases_.size() == 1; }

  struct Phase {
    std::int64_t first_step;      // first update of the phase
    std::int64_t examples_before; // examples processed before first_step
    std::int64_t batch;
  };
  const std::vector<Phase>& phases() const { return phases_; }

 private:
  const Phase& phase_of(double step) const;
  std::vector<Phase> phases_;
  LrCoupling coupling_ = LrCoupling::kNone;
};

}  // namespace batchlab::optim
