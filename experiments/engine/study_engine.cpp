#include "experiments/engine/study_engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace batchlab::experiments {

namespace {

std::int64_t per_optimizer(const StudyGrid& g, const OptimizerAxis& o) {
  return static_cast<std::int64_t>(g.batch_sizes.size() * g.lr_grid.size() * o.momenta.size() *
                                   o.ema_decays.size() * g.seeds.size());
}

}  // namespace

double StudyGrid::examples(std::int64_t batch_size, double steps) const {
  if (batch_schedule.constant()) return steps * static_cast<double>(batch_size);
  return optim::BatchSchedule(batch_size, batch_schedule, batch_multiple).examples_before(steps);
}

void StudyGrid::check() const {
  if (optimizers.empty() || batch_sizes.empty() || lr_grid.empty() || seeds.empty())
    throw std::invalid_argument("StudyGrid: every axis needs at least one value");
  for (const auto& o : optimizers)
    if (o.momenta.empty() || o.ema_decays.empty())
      throw std::invalid_argument("StudyGrid: optimizer '" + o.label + "' has an empty axis");
  if (lr_scaled && scaled_lr.size() != batch_sizes.size())
    throw std::invalid_argument("StudyGrid: scaled_lr must have one lr per batch size");
  if (targets.size() == 1) throw std::invalid_argument("StudyGrid: several targets means at least 2");
}

std::int64_t StudyGrid::size() const {
  std::int64_t n = 0;
  for (const auto& o : optimizers) n += per_optimizer(*this, o);
  return n;
}

TrialPoint StudyGrid::point(std::int64_t id) const {
  if (id < 0) throw std::out_of_range("trial id " + std::to_string(id));
  TrialPoint p;
  p.trial_id = id;
  std::int64_t rest = id;
  std::size_t oi = 0;
  for (; oi < optimizers.size(); ++oi) {
    const std::int64_t n = per_optimizer(*this, optimizers[oi]);
    if (rest < n) break;
    rest -= n;
  }
  if (oi == optimizers.size()) throw std::out_of_range("trial id " + std::to_string(id));
  const OptimizerAxis& o = optimizers[oi];
  auto take = [&rest](std::size_t radix) {
    const auto r = static_cast<std::size_t>(rest % static_cast<std::int64_t>(radix));
    rest /= static_cast<std::int64_t>(radix);
    return r;
  };
  // Innermost first: seed, ema, momentum, lr, batch.
  p.seed_index = take(seeds.size());
  const std::size_t ei = take(o.ema_decays.size());
  const std::size_t mi = take(o.momenta.size());
  p.lr_index = take(lr_grid.size());
  p.batch_index = take(batch_sizes.size());
  p.optimizer_index = oi;
  p.optimizer = o.label;
  p.batch_size = batch_sizes[p.batch_index];
  p.momentum = o.momenta[mi];
  p.ema_decay = o.ema_decays[ei];
  p.seed = seeds[p.seed_index];
  if (lr_scaled) {
    p.lr_multiplier = lr_grid[p.lr_index];
    p.lr = p.lr_multiplier * scaled_lr[p.batch_index];
  } else {
    p.lr = lr_grid[p.lr_index];
  }
  return p;
}

void run_trials(const StudyGrid& grid, std::int64_t first, const TrialRunner& runner,
                const TrialSink& sink, const EngineOptions& options) {
  const std::int64_t last = grid.size();
  if (first >= last) return;
  const int threads = std::max(1, options.threads);
  const std::int64_t window = std::max<std::int64_t>(options.window, threads);

  std::mutex mu;
  std::condition_variable cv;
  std::int64_t next = first;     // next trial to start
  std::int64_t emitted = first;  // next trial the sink expects
  std::map<std::int64_t, std::pair<TrialPoint, TrialOutcome>> finished;  // reorder buffer
  std::exception_ptr error;

  auto worker = [&] {
    while (true) {
      std::int64_t id = 0;
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return error || next >= last || next < emitted + window; });
        if (error || next >= last) return;
        id = next++;
      }
      TrialPoint p;
      TrialOutcome o;
      try {
        p = grid.point(id);
        const auto t0 = std::chrono::steady_clock::now();
        o = runner(p);
        if (!o.reused) o.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      } catch (...) {
        std::lock_guard lk(mu);
        if (!error) error = std::current_exception();
        cv.notify_all();
        return;
      }
      std::lock_guard lk(mu);
      if (error) return;
      finished.emplace(id, std::make_pair(std::move(p), std::move(o)));
      // Emit every trial that is now next in order. The sink runs under the lock, so it is
      // never called concurrently and always in trial_id order.
      try {
        for (auto it = finished.find(emitted); it != finished.end(); it = finished.find(emitted)) {
          sink(it->second.first, std::move(it->second.second));
          finished.erase(it);
          ++emitted;
        }
      } catch (...) {
        if (!error) error = std::current_exception();
      }
      cv.notify_all();
    }
  };

  if (threads == 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(static_cast<std::size_t>(threads));
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
  }
  if (error) std::rethrow_exception(error);
}

double median(std::vector<double> v) {
  if (v.empty()) throw std::invalid_argument("median of an empty vector");
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  if (n % 2 == 1) return v[n / 2];
  const double a = v[n / 2 - 1], b = v[n / 2];
  if (std::isinf(b)) return b;  // avoids inf - inf style surprises; +inf if either is +inf
  return 0.5 * (a + b);
}

TrialStatus overall_status(const std::vector<TargetOutcome>& per_target) {
  bool all = true;
  for (const auto& t : per_target) {
    if (t.status == TrialStatus::kDiverged) return TrialStatus::kDiverged;
    all = all && t.status == TrialStatus::kReached;
  }
  return all ? TrialStatus::kReached : TrialStatus::kNotReached;
}

TargetOutcome target_outcome(const TrialOutcome& o, std::size_t k) {
  if (o.per_target.empty() || o.status == TrialStatus::kFailed) return {o.status, o.steps_to_target, o.final_metric};
  return o.per_target.at(k);
}

BestTracker::BestTracker(const StudyGrid& grid) : grid_(grid) {
  grid_.check();
  const std::size_t targets = grid.target_count();
  best_.resize(targets);
  seed_steps_.resize(targets);
  seed_metrics_.resize(targets);
  seeds_seen_.assign(targets, 0);
  for (auto& per_target : best_) {
    per_target.resize(grid.optimizers.size());
    for (auto& per_opt : per_target) {
      per_opt.resize(grid.batch_sizes.size());
      for (std::size_t b = 0; b < grid.batch_sizes.size(); ++b) per_opt[b].batch_size = grid.batch_sizes[b];
    }
  }
}

namespace {

// The best point's status at one batch size, from what its trials did so far.
TrialStatus batch_status(const BatchBest& b) {
  if (b.steps < std::numeric_limits<double>::infinity()) return TrialStatus::kReached;
  if (b.trials == 0 && b.trials_failed > 0) return TrialStatus::kFailed;
  if (b.trials > 0 && b.trials == b.trials_diverged) return TrialStatus::kDiverged;
  return TrialStatus::kNotReached;
}

}  // namespace

void BestTracker::add(const TrialPoint& p, const TrialOutcome& o) {
  ++counts_[static_cast<int>(o.status)];
  const std::size_t targets = grid_.target_count();
  if (!grid_.targets.empty() && o.per_target.size() != targets && o.status != TrialStatus::kFailed)
    throw std::logic_error("BestTracker: trial " + std::to_string(p.trial_id) + " reports " +
                           std::to_string(o.per_target.size()) + " targets, the study has " + std::to_string(targets));
  for (std::size_t k = 0; k < targets; ++k) add_at_target(p, target_outcome(o, k), k);
}

void BestTracker::add_at_target(const TrialPoint& p, const TargetOutcome& o, std::size_t k) {
  BatchBest& best = best_[k][p.optimizer_index][p.batch_index];
  std::vector<double>& seed_steps = seed_steps_[k];
  std::vector<double>& seed_metrics = seed_metrics_[k];
  if (p.seed_index == 0) {
    seed_steps.clear();
    seed_metrics.clear();
    seeds_seen_[k] = 0;
  }
  if (seeds_seen_[k]++ != p.seed_index)
    throw std::logic_error("BestTracker: trials out of order at trial " + std::to_string(p.trial_id));
  if (o.status == TrialStatus::kFailed) {
    ++best.trials_failed;
  } else {
    ++best.trials;
    if (o.status == TrialStatus::kDiverged) ++best.trials_diverged;
    const bool reached = o.status == TrialStatus::kReached;
    seed_steps.push_back(reached ? static_cast<double>(o.steps_to_target) : std::numeric_limits<double>::infinity());
    seed_metrics.push_back(o.final_metric);
  }
  // The point's last seed: reduce over the seeds that ran and compare with the best so far.
  if (p.seed_index + 1 == grid_.seeds.size() && !seed_steps.empty()) {
    const double steps = median(seed_steps);
    if (steps < best.steps) {  // strict: ties keep the earlier point (smaller lr, momentum, ema)
      best.steps = steps;
      best.final_metric = median(seed_metrics);
      best.lr = p.lr;
      best.lr_index = static_cast<std::int64_t>(p.lr_index);
      best.momentum = p.momentum;
      best.ema_decay = p.ema_decay;
      best.lr_on_edge = grid_.lr_grid.size() > 1 && (p.lr_index == 0 || p.lr_index + 1 == grid_.lr_grid.size());
      best.seeds_reached = static_cast<int>(
          std::count_if(seed_steps.begin(), seed_steps.end(), [](double s) { return std::isfinite(s); }));
      best.seed_steps = seed_steps;
    }
  }
  best.status = batch_status(best);
}

}  // namespace batchlab::experiments
