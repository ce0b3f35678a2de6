// Learning-rate schedules: pure functions of the step (number of updates already taken).
//
//   lr_at(step) = base_lr x warmup(step) x decay(step)   (docs/science.md#warm-up-and-decay-schedules)
//
// where base_lr is the lr after the batch-size scaling rule (scaling.h). Nothing here keeps
// state: the same step always gives the same lr, so a resumed run and the analytic simulator
// see exactly the lr the original run saw.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace batchlab::optim {

enum class DecayKind { kConstant, kStep, kCosine, kPolynomial, kLinear };
enum class WarmupKind {
  kNone,
  kLinearFromZero,      // lr_t = base (t+1)/W for t < W
  kLinearFromUnscaled,  // Goyal et al. 2017: from the unscaled lr_ref to base in W steps
};

struct ScheduleConfig {
  DecayKind decay = DecayKind::kConstant;
  std::int64_t total_steps = 0;               // horizon of cosine / polynomial / linear decay
  std::vector<std::int64_t> milestones;       // step decay: multiply by factor at each
  double factor = 0.1;                        // step decay factor
  double lr_min = 0.0;                        // cosine floor; polynomial / linear end lr
  double power = 2.0;                         // polynomial power (LARS uses 2)
  WarmupKind warmup = WarmupKind::kNone;
  std::int64_t warmup_steps = 0;
  double warmup_start_lr = 0.0;               // kLinearFromUnscaled: the unscaled lr
};

// Parse names used by configs: "constant", "step", "cosine", "poly", "linear";
// "none", "linear", "gradual". Throws ConfigError.
DecayKind parse_decay(const std::string& name);
WarmupKind parse_warmup(const std::string& name);

// Warm-up and milestones are often given in epochs (Goyal et al.: 5 warm-up epochs, decays at
// epochs 30, 60, 80). steps = round(epochs x steps_per_epoch); `field` names the setting in the
// error (ConfigError for epochs < 0 or not finite, steps_per_epoch <= 0).
std::int64_t steps_from_epochs(double epochs, std::int64_t steps_per_epoch,
                               const std::string& field = "epochs");

class LrSchedule {
 public:
  // Throws ConfigError for invalid settings (warm-up longer than the run, negative lr, ...).
  LrSchedule(double base_lr, ScheduleConfig cfg);
  // The lr used for the update with 0-based index `step`.
  double lr_at(std::int64_t step) const;
  double base_lr() const { return base_; }
  const ScheduleConfig& config() const { return cfg_; }

 private:
  double decay_factor(std::int64_t step) const;
  double base_;
  ScheduleConfig cfg_;
};

}  // namespace batchlab::optim
