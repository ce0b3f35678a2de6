#include <algorithm>
#include <chrono>
#include <cmath>

#include "optim/batch_schedule.h"
#include "optim/config.h"
#include "optim/io.h"
#include "optim/registry.h"
#include "optim/schedule.h"
#include "sim/landscape.h"
#include "sim/nqm.h"
#include "sim/sampled.h"
#include "sim/trial.h"

namespace batchlab::sim {
namespace {

[[noreturn]] void bad(const std::string& field, const std::string& value, const std::string& why) {
  throw optim::ConfigError(field + " = " + value + ": " + why);
}

}  // namespace

void validate(const TrialSpec& s) {
  if (s.mode != "analytic" && s.mode != "sampled") bad("mode", "'" + s.mode + "'", "unknown (analytic, sampled)");
  if (s.batch_size <= 0) bad("batch_size", std::to_string(s.batch_size), "must be > 0");
  if (!(std::isfinite(s.lr) && s.lr > 0.0)) bad("lr", optim::format_number(s.lr), "must be finite and > 0");
  if (s.max_steps < 0) bad("max_steps", std::to_string(s.max_steps), "must be >= 0");
  if (s.eval_every <= 0) bad("eval_every", std::to_string(s.eval_every), "must be > 0");
  if (!std::isfinite(s.target)) bad("target", optim::format_number(s.target), "must be finite");
  for (double t : s.targets) {
    if (!std::isfinite(t)) bad("targets", optim::format_number(t), "must be finite");
    if (t < s.target) bad("target", optim::format_number(s.target), "must be the lowest of targets");
  }
  if (!s.targets.empty() && std::find(s.targets.begin(), s.targets.end(), s.target) == s.targets.end())
    bad("target", optim::format_number(s.target), "must be the lowest of targets");
  if (s.workers < 1) bad("workers", std::to_string(s.workers), "must be >= 1");
  if (s.batch_size % s.workers != 0)
    bad("workers", std::to_string(s.workers),
        "must divide batch_size = " + std::to_string(s.batch_size));
  if (s.node_size < 0) bad("node_size", std::to_string(s.node_size), "must be >= 0");
  if (s.node_size > 0 && s.workers % s.node_size != 0)
    bad("node_size", std::to_string(s.node_size), "must divide workers = " + std::to_string(s.workers));
  validate_landscape(s.landscape);
  (void)optim::LrSchedule(s.lr, s.schedule);  // throws ConfigError for a bad schedule
  const optim::BatchSchedule batches(s.batch_size, s.batch_schedule, s.workers);  // throws likewise
  if (s.optimizer.name == "ema" && !(s.ema_decay >= 0.0 && s.ema_decay < 1.0))
    bad("ema_decay", optim::format_number(s.ema_decay), "must be in [0, 1)");
  if (s.mode == "analytic") {
    validate_nqm_analytic(s);
    return;
  }
  if (s.landscape.spectrum) bad("mode", "sampled", "an explicit NQM spectrum (landscape.spectrum) runs in analytic mode only");
  optim::OptimizerConfig o = s.optimizer;
  if (o.name == "ema") o.name = o.momentum != 0.0 ? "momentum" : "sgd";
  optim::validate_config(o);
  if (s.sync.fragments > 1) {
    const std::int64_t dim = make_landscape(s.landscape)->dim();
    if (s.sync.fragments > dim)
      bad("sync", s.sync.to_string(),
          "F = " + std::to_string(s.sync.fragments) + " fragments but the landscape has " + std::to_string(dim) +
              " parameters (F must divide H and be at most the parameter count)");
  }
  if (optim::canonical_rule_name(o.name) == "precond" && s.landscape.kind == "mlp")
    bad("optimizer", "precond", "landscape.kind = mlp has no curvature diagonal");
  if (s.landscape.kind != "nqm" && batches.max_batch() / s.workers > s.landscape.train_examples)
    bad(batches.constant() ? "batch_size" : "schedule.batch_factor",
        batches.constant() ? std::to_string(s.batch_size) : std::to_string(s.batch_schedule.factor),
        "per-worker batch " + std::to_string(batches.max_batch() / s.workers) + " exceeds train_examples = " +
            std::to_string(s.landscape.train_examples));
}

TrialResult run_trial(const TrialSpec& spec) {
  validate(spec);
  return run_validated_trial(spec);
}

namespace {

// Analytic mode with several targets: the exact search once per target, so that each entry is
// the one-target trial's answer bit for bit; the trial itself (status, curve) is the search for
// the lowest target, which every other target is crossed before.
TrialResult run_nqm_analytic_targets(const TrialSpec& spec) {
  TrialSpec one = spec;
  one.targets.clear();
  std::vector<TargetResult> per_target;
  TrialResult last;
  for (double t : spec.targets) {
    one.target = t;
    one.record_curve = spec.record_curve && t == spec.target;
    TrialResult r = run_nqm_analytic(one);
    per_target.push_back({r.status, r.steps_to_target, r.final_metric});
    if (t == spec.target) last = std::move(r);
  }
  last.per_target = std::move(per_target);
  return last;
}

}  // namespace

TrialResult run_validated_trial(const TrialSpec& spec) {
  const auto start = std::chrono::steady_clock::now();
  TrialResult r = spec.mode == "analytic" ? (spec.targets.empty() ? run_nqm_analytic(spec) : run_nqm_analytic_targets(spec))
                                          : run_sampled(spec);
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace batchlab::sim
