#include "optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "optim/config.h"
#include "optim/io.h"

namespace batchlab::optim {

std::int64_t steps_from_epochs(double epochs, std::int64_t steps_per_epoch,
                               const std::string& field) {
  if (!(std::isfinite(epochs) && epochs >= 0.0))
    throw ConfigError(field + " = " + format_number(epochs) + ": must be finite and >= 0");
  if (steps_per_epoch <= 0)
    throw ConfigError(field + ": steps_per_epoch = " + std::to_string(steps_per_epoch) +
                      ": must be > 0");
  return static_cast<std::int64_t>(std::llround(epochs * static_cast<double>(steps_per_epoch)));
}

DecayKind parse_decay(const std::string& n) {
  if (n == "constant") return DecayKind::kConstant;
  if (n == "step") return DecayKind::kStep;
  if (n == "cosine") return DecayKind::kCosine;
  if (n == "poly" || n == "polynomial") return DecayKind::kPolynomial;
  if (n == "linear") return DecayKind::kLinear;
  throw ConfigError("schedule.decay = '" + n + "': unknown (constant, step, cosine, poly, linear)");
}

WarmupKind parse_warmup(const std::string& n) {
  if (n == "none") return WarmupKind::kNone;
  if (n == "linear") return WarmupKind::kLinearFromZero;
  if (n == "gradual") return WarmupKind::kLinearFromUnscaled;
  throw ConfigError("schedule.warmup = '" + n + "': unknown (none, linear, gradual)");
}

LrSchedule::LrSchedule(double base_lr, ScheduleConfig cfg) : base_(base_lr), cfg_(std::move(cfg)) {
  if (!(std::isfinite(base_) && base_ >= 0.0))
    throw ConfigError("lr = " + format_number(base_) + ": must be finite and >= 0");
  if (cfg_.warmup_steps < 0)
    throw ConfigError("schedule.warmup_steps = " + std::to_string(cfg_.warmup_steps) + ": must be >= 0");
  if (cfg_.warmup != WarmupKind::kNone && cfg_.warmup_steps == 0)
    throw ConfigError("schedule.warmup_steps = 0 with a warm-up: must be > 0");
  const bool horizon = cfg_.decay == DecayKind::kCosine || cfg_.decay == DecayKind::kPolynomial ||
                       cfg_.decay == DecayKind::kLinear;
  if (horizon && cfg_.total_steps <= 0)
    throw ConfigError("schedule.total_steps = " + std::to_string(cfg_.total_steps) +
                      ": decay needs a horizon > 0");
  if (cfg_.total_steps > 0 && cfg_.warmup_steps > cfg_.total_steps)
    throw ConfigError("schedule.warmup_steps = " + std::to_string(cfg_.warmup_steps) +
                      ": longer than the run (" + std::to_string(cfg_.total_steps) + " steps)");
  if (!(cfg_.lr_min >= 0.0 && cfg_.lr_min <= base_ + 1e-300) && horizon)
    throw ConfigError("schedule.lr_min = " + format_number(cfg_.lr_min) + ": must be in [0, lr]");
  if (!(cfg_.factor > 0.0))
    throw ConfigError("schedule.factor = " + format_number(cfg_.factor) + ": must be > 0");
  if (!(cfg_.power > 0.0))
    throw ConfigError("schedule.power = " + format_number(cfg_.power) + ": must be > 0");
  if (!(std::isfinite(cfg_.warmup_start_lr) && cfg_.warmup_start_lr >= 0.0))
    throw ConfigError("schedule.warmup_start_lr = " + format_number(cfg_.warmup_start_lr) + ": must be >= 0");
  for (auto m : cfg_.milestones)
    if (m < 0)
      throw ConfigError("schedule.milestones: " + std::to_string(m) + ": must be >= 0");
  std::sort(cfg_.milestones.begin(), cfg_.milestones.end());
}

double LrSchedule::decay_factor(std::int64_t t) const {
  const double T = static_cast<double>(cfg_.total_steps);
  const double frac = cfg_.total_steps > 0 ? std::min(1.0, static_cast<double>(t) / T) : 0.0;
  const double end = base_ > 0.0 ? cfg_.lr_min / base_ : 0.0;  // end lr as a fraction of base
  switch (cfg_.decay) {
    case DecayKind::kConstant:
      return 1.0;
    case DecayKind::kStep: {
      double f = 1.0;
      for (auto m : cfg_.milestones)
        if (t >= m) f *= cfg_.factor;
      return f;
    }
    case DecayKind::kCosine:
      return end + (1.0 - end) * 0.5 * (1.0 + std::cos(std::numbers::pi * frac));
    case DecayKind::kPolynomial:
      return end + (1.0 - end) * std::pow(1.0 - frac, cfg_.power);
    case DecayKind::kLinear:
      return end + (1.0 - end) * (1.0 - frac);
  }
  return 1.0;
}

double LrSchedule::lr_at(std::int64_t t) const {
  const double decayed = base_ * decay_factor(t);
  if (cfg_.warmup == WarmupKind::kNone || t >= cfg_.warmup_steps) return decayed;
  const double w = static_cast<double>(cfg_.warmup_steps);
  if (cfg_.warmup == WarmupKind::kLinearFromZero)
    return decayed * static_cast<double>(t + 1) / w;
  // Gradual warm-up (Goyal et al. 2017): start at the unscaled lr, add a constant each step,
  // reach the scaled lr at step W.
  const double start = cfg_.warmup_start_lr;
  return (start + (base_ - start) * static_cast<double>(t) / w) * decay_factor(t);
}

}  // namespace batchlab::optim
