#include "experiments/engine/study_driver.h"

#include <cstdio>
#include <memory>
#include <optional>
#include <utility>

#include "experiments/engine/plots.h"
#include "experiments/engine/progress.h"
#include "experiments/engine/provenance.h"

namespace batchlab::experiments {
namespace {

// "OPT B=.. lr=.. m=.. seed=..": the trial of a progress line.
std::string progress_head(const TrialPoint& p) {
  return p.optimizer + " B=" + std::to_string(p.batch_size) + " lr=" + format_number(p.lr) +
         " m=" + format_number(p.momentum) + " seed=" + std::to_string(p.seed);
}

}  // namespace

StudyDriver::StudyDriver(const StudyGrid& grid, StudySettings settings)
    : grid_(grid), settings_(std::move(settings)), writer_(settings_.output_dir, grid_, settings_.results) {}

void StudyDriver::check_resumable() const { writer_.check_resumable(settings_.resolved); }

std::int64_t StudyDriver::run(const StudyHooks& hooks, nlohmann::json provenance, const nlohmann::json& provenance_extra) {
  const char* who = settings_.who.c_str();
  BestTracker tracker(grid_);
  const std::int64_t done = writer_.open(settings_.resolved, tracker);
  if (done > 0)
    std::fprintf(stderr, "%s: resuming %s: %lld of %lld trials already done\n", who,
                 settings_.output_dir.c_str(), static_cast<long long>(done), static_cast<long long>(grid_.size()));
  if (hooks.on_start) hooks.on_start(done);
  const StudyObserver& watch = settings_.observer;
  if (watch.on_start) watch.on_start(writer_.dir(), done, grid_.size());
  auto stopped = [&] { return watch.stop && watch.stop->load(); };
  std::int64_t committed = done;

  std::optional<ProgressBar> bar;
  std::optional<TrialLines> lines;
  if (hooks.describe) lines.emplace(grid_.size(), done);
  else bar.emplace(settings_.progress_label, grid_.size(), done);
  const TrialSink sink = [&](const TrialPoint& p, TrialOutcome&& o) {
    writer_.append(p, o);
    tracker.add(p, o);
    if (lines) lines->trial(progress_head(p), hooks.describe(p, o), o.reused);
    else bar->tick();
    ++committed;
    if (watch.on_trial) watch.on_trial(committed, grid_.size());
    if (stopped()) throw StudyCancelled("stopped");
  };
  const TrialRunner runner = [&](const TrialPoint& p) {
    if (stopped()) throw StudyCancelled("stopped");
    return hooks.run_trial(p);
  };
  try {
    run_trials(grid_, done, watch.stop ? runner : hooks.run_trial, sink, {.threads = settings_.threads});
  } catch (const StudyCancelled&) {
    writer_.flush();  // every trial the sink took is on disk: a rerun resumes after it
    if (bar) bar->finish();
    throw StudyCancelled("stopped after " + std::to_string(committed) + " of " +
                         std::to_string(grid_.size()) + " trials; rerun to resume " + settings_.output_dir.string());
  }
  writer_.flush();
  if (bar) bar->finish();
  if (hooks.after_trials) hooks.after_trials();

  provenance["finished_utc"] = utc_now_iso();
  provenance["seeds"] = grid_.seeds;
  provenance["resumed_at_trial"] = done;
  for (const auto& [k, v] : provenance_extra.items()) provenance[k] = v;
  nlohmann::json extra = hooks.summary ? hooks.summary(tracker) : nlohmann::json::object();
  extra["provenance"] = provenance;
  const auto summaries = write_summaries(writer_.dir(), grid_, tracker, extra);

  warn(summaries, tracker);
  std::unique_ptr<FitTableColumn> column;
  if (hooks.fit_column_cell) column = std::make_unique<FitTableColumn>(FitTableColumn{hooks.fit_column_header, hooks.fit_column_cell});
  print_fit_table(stdout, summaries, column.get());
  report_results_and_plot(writer_.dir(), settings_.result_files, settings_.results.curves, settings_.no_plot, who);
  return tracker.count(TrialStatus::kFailed);
}

void StudyDriver::warn(const std::vector<OptimizerSummary>& summaries, const BestTracker& tracker) const {
  const char* who = settings_.who.c_str();
  warn_edge_lrs(summaries, who);
  for (std::size_t k = 0; k < grid_.target_count(); ++k)
    for (std::size_t oi = 0; oi < grid_.optimizers.size(); ++oi)
      for (const auto& b : tracker.best(oi, k))
        if (b.status == TrialStatus::kReached && b.steps == 0.0) {
          const std::string key = grid_.targets.empty() ? settings_.target_key
                                                        : settings_.target_key + " " + format_number(grid_.targets[k]);
          std::fprintf(stderr, "%s: warning: %s: the target is met before the first update at batch size %lld "
                               "(%s too easy; such batch sizes are left out of the fit)\n",
                       who, grid_.optimizers[oi].label.c_str(), static_cast<long long>(b.batch_size), key.c_str());
          break;
        }
}

}  // namespace batchlab::experiments
