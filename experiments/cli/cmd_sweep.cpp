// batchlab sweep CONFIG.ini [--section.key=value ...] [--no-plot] [--check]
//
// A simulated study: every trial of the grid through the simulator (sim::run_validated_trial),
// run and recorded by the study driver (experiments/engine/study_driver.h): results streamed to
// the output directory (resumable), then the critical-batch fit per optimizer.
// --check: the same validation, then the resolved grid on stdout and exit 0, nothing written or
// run (experiments/cli/config_check.h).
// Exit status: 0 done, 1 failure while working, 2 bad input (one line, nothing written).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "experiments/cli/commands.h"
#include "experiments/cli/config_check.h"
#include "experiments/engine/provenance.h"
#include "experiments/engine/study_driver.h"
#include "experiments/engine/sweep_config.h"
#include "optim/config.h"
#include "sim/trial.h"

namespace batchlab::cli {

using namespace batchlab::experiments;

namespace {

void print_check(const SweepConfig& cfg, const StudyGrid& grid) {
  CheckReport report;
  report.who = "batchlab sweep";
  report.config_path = cfg.config_path;
  report.output_dir = cfg.output_dir;
  std::string targets = cfg.targets.empty() ? "target " : "targets ";
  if (cfg.targets.empty()) targets.append(format_number(cfg.target));
  for (std::size_t k = 0; k < cfg.targets.size(); ++k) {
    if (k) targets.push_back(',');
    targets.append(format_number(cfg.targets[k]));
  }
  const std::string budget = targets + " (" + metric_name(cfg) + "), at most " +
                             std::to_string(cfg.max_steps) + " steps, " +
                             (cfg.mode == "analytic" ? std::string("exact steps to target")
                                                     : "evaluated every " + std::to_string(cfg.eval_every) + " steps");
  report.details = {{"mode", cfg.mode + ", " + std::to_string(cfg.threads) + " thread(s)"}, {"trial", budget}};
  print_check_report(stdout, grid, report);
}

StudySettings study_settings(const SweepConfig& cfg) {
  return {.who = "batchlab sweep",
          .progress_label = "sweep " + cfg.study_name,
          .output_dir = cfg.output_dir,
          .resolved = cfg.resolved,
          .results = {.curves = cfg.record_curves, .defaults = cfg.defaults},
          .threads = cfg.threads,
          .target_key = "study.target",
          .result_files = "config.ini,summary.json,trials.csv,steps_vs_batch.csv",
          .no_plot = cfg.no_plot,
          .observer = {}};
}

}  // namespace

int cmd_sweep(int argc, char** argv) { return cmd_sweep(argc, argv, CommandIo{}); }

int cmd_sweep(int argc, char** argv, const CommandIo& io) {
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
    validate_trials(cfg, grid);
  } catch (const std::invalid_argument& e) {  // optim::ConfigError and friends
    return io.fail(2, who, e.what());
  }
  StudySettings settings = study_settings(cfg);
  settings.observer = io.observer;
  StudyDriver driver(grid, std::move(settings));
  try {
    driver.check_resumable();
  } catch (const std::exception& e) {
    return io.fail(2, who, e.what());
  }
  for (const auto& w : cfg.warnings) std::fprintf(stderr, "%s: warning: %s\n", who, w.c_str());
  if (check) {
    print_check(cfg, grid);
    return 0;
  }

  // ---- the study ----
  try {
    const nlohmann::json prov = provenance(argc + 1, argv - 1);  // argv[-1] is "batchlab"
    const std::string metric = metric_name(cfg);
    StudyHooks hooks;
    hooks.run_trial = [&](const TrialPoint& p) {
      const sim::TrialResult r = sim::run_validated_trial(make_trial_spec(cfg, p));
      TrialOutcome o;
      o.status = r.status;
      o.steps_to_target = r.steps_to_target;
      o.final_metric = r.final_metric;
      o.comm_bytes = r.comm_bytes;
      o.metric = metric;
      for (const auto& c : r.curve) o.curve.push_back({c.step, c.lr, c.metric});
      for (const auto& t : r.per_target) o.per_target.push_back({t.status, t.steps_to_target, t.final_metric});
      if (!o.per_target.empty()) o.status = overall_status(o.per_target);
      return o;
    };
    hooks.summary = [&](const BestTracker&) {
      nlohmann::json j{{"study", cfg.study_name}, {"landscape", cfg.landscape.kind}, {"mode", cfg.mode},
                       {"target", cfg.target},    {"metric", metric},                {"max_steps", cfg.max_steps},
                       {"config", cfg.config_path}};
      if (!cfg.targets.empty()) j["target"] = cfg.targets.front();  // the first target's fits are "optimizers"
      return j;
    };
    driver.run(hooks, prov, {{"threads", cfg.threads}});
  } catch (const std::exception& e) {
    return io.fail(1, who, e.what());
  }
  return 0;
}

}  // namespace batchlab::cli
