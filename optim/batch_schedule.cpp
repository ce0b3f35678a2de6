#include "optim/batch_schedule.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>

#include "optim/config.h"
#include "optim/io.h"

namespace batchlab::optim {

LrCoupling parse_lr_coupling(const std::string& s) {
  if (s == "none") return LrCoupling::kNone;
  if (s == "linear") return LrCoupling::kLinear;
  if (s == "sqrt") return LrCoupling::kSqrt;
  throw ConfigError("schedule.batch_lr_coupling = " + s + ": unknown (none, linear, sqrt)");
}

std::string to_string(LrCoupling c) {
  switch (c) {
    case LrCoupling::kNone: return "none";
    case LrCoupling::kLinear: return "linear";
    case LrCoupling::kSqrt: return "sqrt";
  }
  return "?";
}

BatchSchedule::BatchSchedule(std::int64_t base_batch, BatchScheduleConfig cfg, std::int64_t multiple_of)
    : coupling_(cfg.lr_coupling) {
  if (base_batch <= 0) throw ConfigError("batch_size = " + std::to_string(base_batch) + ": must be > 0");
  if (multiple_of < 1) throw ConfigError("workers = " + std::to_string(multiple_of) + ": must be >= 1");
  if (!(std::isfinite(cfg.factor) && cfg.factor > 0.0))
    throw ConfigError("schedule.batch_factor = " + format_number(cfg.factor) + ": must be finite and > 0");
  if (cfg.max_batch < 0 || (cfg.max_batch > 0 && cfg.max_batch < base_batch))
    throw ConfigError("schedule.batch_max = " + std::to_string(cfg.max_batch) +
                      ": must be 0 (no cap) or >= the batch size " + std::to_string(base_batch));
  for (std::size_t k = 0; k < cfg.milestones.size(); ++k)
    if (cfg.milestones[k] <= 0 || (k > 0 && cfg.milestones[k] <= cfg.milestones[k - 1]))
      throw ConfigError("schedule.batch_milestones = ..., " + std::to_string(cfg.milestones[k]) +
                        ": milestones (examples) must be > 0 and strictly increasing");
  phases_.push_back({0, 0, base_batch});
  for (std::size_t k = 0; k < cfg.milestones.size(); ++k) {
    const Phase& cur = phases_.back();
    const std::int64_t left = std::max<std::int64_t>(cfg.milestones[k] - cur.examples_before, 0);
    const std::int64_t steps = (left + cur.batch - 1) / cur.batch;
    const double want = static_cast<double>(base_batch) * std::pow(cfg.factor, static_cast<double>(k + 1));
    std::int64_t b = 0;
    if (want < 4e18) {  // llround and the product stay inside int64 (beyond, llround is undefined)
      b = std::llround(want / static_cast<double>(multiple_of)) * multiple_of;
      b = std::max(b, multiple_of);
      if (cfg.max_batch > 0) b = std::min(b, cfg.max_batch);
    } else if (cfg.max_batch > 0) {
      b = cfg.max_batch;  // the rounded batch would exceed any cap
    }
    if (b <= 0) throw ConfigError("schedule.batch_factor = " + format_number(cfg.factor) + ": batch overflows");
    phases_.push_back({cur.first_step + steps, cur.examples_before + steps * cur.batch, b});
  }
}

const BatchSchedule::Phase& BatchSchedule::phase_of(double step) const {
  // Last phase whose first_step <= step (phases may be empty when two milestones fall in one step).
  auto it = std::upper_bound(phases_.begin(), phases_.end(), step,
                             [](double s, const Phase& p) { return s < static_cast<double>(p.first_step); });
  return *std::prev(it);
}

std::int64_t BatchSchedule::batch_at(std::int64_t step) const {
  return phase_of(static_cast<double>(step)).batch;
}

double BatchSchedule::lr_factor_at(std::int64_t step) const {
  if (coupling_ == LrCoupling::kNone) return 1.0;
  const double ratio = static_cast<double>(batch_at(step)) / static_cast<double>(phases_.front().batch);
  return coupling_ == LrCoupling::kLinear ? ratio : std::sqrt(ratio);
}

double BatchSchedule::examples_before(double step) const {
  const Phase& p = phase_of(step);
  return static_cast<double>(p.examples_before) + (step - static_cast<double>(p.first_step)) * static_cast<double>(p.batch);
}

std::int64_t BatchSchedule::first_step_with_examples(std::int64_t examples) const {
  if (examples <= 0) return 0;
  // The last phase that starts with fewer examples done: the step lies in it (the next phase,
  // if any, starts at or after `examples`).
  auto p = phases_.begin();
  while (std::next(p) != phases_.end() && std::next(p)->examples_before < examples) ++p;
  const std::int64_t left = examples - p->examples_before;
  return p->first_step + (left + p->batch - 1) / p->batch;
}

std::int64_t BatchSchedule::examples_before(std::int64_t step) const {
  const Phase& p = phase_of(static_cast<double>(step));
  return p.examples_before + (step - p.first_step) * p.batch;
}

std::int64_t BatchSchedule::max_batch() const {
  std::int64_t m = 0;
  for (const Phase& p : phases_) m = std::max(m, p.batch);
  return m;
}

}  // namespace batchlab::optim
