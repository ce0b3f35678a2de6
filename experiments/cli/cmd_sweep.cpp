// batchlab sweep CONFIG.ini [--section.key=value ...] [--no-plot] [--check]
//
// A simulated study: every trial of the grid through sim::run_trial on a thread pool, results
// streamed to the output directory (resumable), then the critical-batch fit per optimizer.
// --check: the same validation, then the resolved grid on stdout and exit 0, nothing written or
// run (experiments/cli/config_check.h).
// Exit status: 0 done, 1 failure while working, 2 bad input (one line, nothing written).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "experiments/cli/commands.h"
#include "experiments/cli/config_check.h"
#include "experiments/engine/plots.h"
#include "experiments/engine/progress.h"
#include "experiments/engine/provenance.h"
#include "experiments/engine/results_writer.h"
#include "experiments/engine/study_engine.h"
#include "experiments/engine/study_report.h"
#include "experiments/engine/sweep_config.h"
#include "optim/config.h"
#include "sim/trial.h"

namespace batchlab::cli {

using namespace batchlab::experiments;

namespace {

TrialState state_of(sim::TrialStatus s) {
  switch (s) {
    case sim::TrialStatus::kReached: return TrialState::kReached;
    case sim::TrialStatus::kNotReached: return TrialState::kNotReached;
    case sim::TrialStatus::kDiverged: return TrialState::kDiverged;
  }
  return TrialState::kNotReached;
}

}  // namespace

int cmd_sweep(int argc, char** argv) {
  const char* who = "batchlab sweep";
  SweepConfig cfg;
  StudyGrid grid;
  // --check is this command's switch, not a setting: taken out before the settings parser.
  bool check = false;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && std::strcmp(argv[i], "--check") == 0) check = true;
    else args.push_back(argv[i]);
  }
  // ---- everything that can be wrong with the input, before any work ----
  try {
    if (!parse_sweep_args(static_cast<int>(args.size()), args.data(), cfg,
                          "batchlab sweep CONFIG.ini [--section.key=value ...] [--no-plot] [--check]")) {
      std::printf("  --check               validate the config as a run does, print the resolved grid,\n"
                  "                        write and run nothing (exit 0; bad config: exit 2)\n");
      return 0;
    }
    grid = make_grid(cfg);
  } catch (const optim::ConfigError& e) {
    std::fprintf(stderr, "%s: %s\n", who, e.what());
    return 2;
  }
  {
    TrialPoint p;
    try {
      for (std::int64_t id = 0; id < grid.size(); ++id) {
        p = grid.point(id);
        sim::validate(make_trial_spec(cfg, p));
      }
    } catch (const std::invalid_argument& e) {  // optim::ConfigError and friends
      std::fprintf(stderr, "%s: %s: %s\n", who, describe_trial(p).c_str(), e.what());
      return 2;
    }
  }
  ResultsWriter writer(cfg.output_dir, grid, {.curves = cfg.record_curves, .defaults = cfg.defaults});
  try {
    writer.check_resumable(cfg.resolved);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", who, e.what());
    return 2;
  }

  for (const auto& w : cfg.warnings) std::fprintf(stderr, "%s: warning: %s\n", who, w.c_str());
  if (check) {
    CheckReport report;
    report.who = who;
    report.config_path = cfg.config_path;
    report.output_dir = cfg.output_dir;
    std::string budget = "target " + format_number(cfg.target) + " (" + metric_name(cfg) + "), at most " +
                         std::to_string(cfg.max_steps) + " steps, " +
                         (cfg.mode == "analytic" ? std::string("exact steps to target")
                                                 : "evaluated every " + std::to_string(cfg.eval_every) + " steps");
    report.details = {{"mode", cfg.mode + ", " + std::to_string(cfg.threads) + " thread(s)"}, {"trial", budget}};
    print_check_report(stdout, grid, report);
    return 0;
  }

  // ---- the study ----
  try {
    nlohmann::json prov = provenance(argc + 1, argv - 1);  // argv[-1] is "batchlab"
    BestTracker tracker(grid);
    const std::int64_t done = writer.open(cfg.resolved, tracker);
    if (done > 0)
      std::fprintf(stderr, "%s: resuming %s: %lld of %lld trials already done\n", who, cfg.output_dir.c_str(),
                   static_cast<long long>(done), static_cast<long long>(grid.size()));
    ProgressBar bar("sweep " + cfg.study_name, grid.size(), done);
    const std::string metric = metric_name(cfg);
    const TrialRunner runner = [&](const TrialPoint& p) {
      const sim::TrialResult r = sim::run_trial(make_trial_spec(cfg, p));
      TrialOutcome o;
      o.state = state_of(r.status);
      o.steps_to_target = r.steps_to_target;
      o.final_metric = r.final_metric;
      o.metric = metric;
      for (const auto& c : r.curve) o.curve.push_back({c.step, c.lr, c.metric});
      return o;
    };
    const TrialSink sink = [&](const TrialPoint& p, TrialOutcome&& o) {
      writer.append(p, o);
      tracker.add(p, o);
      bar.tick();
    };
    run_trials(grid, done, runner, sink, {.threads = cfg.threads});
    writer.flush();
    bar.finish();

    prov["finished_utc"] = utc_now_iso();
    prov["seeds"] = cfg.seeds;
    prov["threads"] = cfg.threads;
    prov["resumed_at_trial"] = done;
    const nlohmann::json extra = {
        {"study", cfg.study_name},   {"landscape", cfg.landscape.kind}, {"mode", cfg.mode},
        {"target", cfg.target},      {"metric", metric},                {"max_steps", cfg.max_steps},
        {"config", cfg.config_path}, {"provenance", prov}};
    const auto summaries = write_summaries(writer.dir(), grid, tracker, extra);

    warn_edge_lrs(summaries, who);
    for (std::size_t oi = 0; oi < grid.optimizers.size(); ++oi)
      for (const auto& b : tracker.best(oi))
        if (b.state == TrialState::kReached && b.steps == 0.0) {
          std::fprintf(stderr, "%s: warning: %s: the target is met before the first update at batch size %lld "
                               "(study.target too easy; such batch sizes are left out of the fit)\n",
                       who, grid.optimizers[oi].label.c_str(), static_cast<long long>(b.batch_size));
          break;
        }
    print_fit_table(stdout, summaries);
    experiments::report_results_and_plot(
        writer.dir(), "config.ini,summary.json,trials.csv,steps_vs_batch.csv",
        cfg.record_curves, cfg.no_plot, who);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", who, e.what());
    return 1;
  }
  return 0;
}

}  // namespace batchlab::cli
