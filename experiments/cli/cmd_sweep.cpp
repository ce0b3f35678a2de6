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
  const std::string budget = "target " + format_number(cfg.target) + " (" + metric_name(cfg) + "), at most " +
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
          .no_plot = cfg.no_plot};
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
    validate_trials(cfg, grid);
  } catch (const std::invalid_argument& e) {  // optim::ConfigError and friends
    std::fprintf(stderr, "%s: %s\n", who, e.what());
    return 2;
  }
  StudyDriver driver(grid, study_settings(cfg));
  try {
    driver.check_resumable();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", who, e.what());
    return 2;
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
      return o;
    };
    hooks.summary = [&](const BestTracker&) {
      return nlohmann::json{{"study", cfg.study_name}, {"landscape", cfg.landscape.kind}, {"mode", cfg.mode},
                            {"target", cfg.target},    {"metric", metric},                {"max_steps", cfg.max_steps},
                            {"config", cfg.config_path}};
    };
    driver.run(hooks, prov, {{"threads", cfg.threads}});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", who, e.what());
    return 1;
  }
  return 0;
}

}  // namespace batchlab::cli
