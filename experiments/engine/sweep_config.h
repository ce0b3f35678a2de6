// Settings of a simulated study (`batchlab sweep CONFIG.ini [--section.key=value ...]`).
//
// Boost.Program_options reads the INI file and the command line with the same names: the INI
// key `dim` in section `[landscape]` is `--landscape.dim=...` on the command line, and the
// command line wins. Every setting is declared in one table (sweep_config.cpp) with its default,
// so the resolved config.ini lists all of them. Unknown keys or sections, bad values, bad grids
// and impossible combinations throw optim::ConfigError with one line naming section.key and the
// value, before anything runs or is written.
//
// Several optimizers share one study: `[optimizer] name = sgd,momentum,precond,ema` makes one
// optimizer config per name, all taking the [optimizer] hyperparameters. Grids are shared too,
// with these rules:
//   * study.lr_grid applies to every optimizer;
//   * study.momentum_grid (default: [optimizer] momentum) applies to the optimizers that have
//     momentum (momentum, nesterov, lars:*); the others run with momentum 0;
//   * study.ema_grid (default 0.99) applies to the optimizer "ema" (iterate averaging); the
//     others run without averaging.
//   * a grid that no listed optimizer uses is accepted with a warning (running a subset of a
//     config with --optimizer.name=sgd is common), but its values must still be valid.
// A section [optimizer.LABEL] overrides any [optimizer] key, and momentum_grid / ema_grid, for
// one optimizer: e.g. `[optimizer.ema] momentum_grid = 0.9` gives EMA on top of heavy ball, and
// `[optimizer.precond] precond_power = 0.5`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "experiments/engine/grid.h"
#include "experiments/engine/results_writer.h"
#include "experiments/engine/study_engine.h"
#include "optim/scaling.h"
#include "sim/trial.h"

namespace batchlab::experiments {

struct SweepOptimizer {
  std::string label;                 // as listed in optimizer.name
  optim::OptimizerConfig config;     // name = label; momentum set per trial
  std::vector<double> momenta;       // its momentum axis
  std::vector<double> ema_decays;    // its EMA axis
};

struct SweepConfig {
  std::string config_path;
  sim::LandscapeConfig landscape;
  std::vector<SweepOptimizer> optimizers;
  optim::ScheduleConfig schedule;
  bool warmup_start_auto = true;  // schedule.warmup_start_lr = auto (see make_trial_spec)
  optim::BatchScheduleConfig batch_schedule;  // schedule.batch_milestones / batch_factor / batch_max
  optim::ScalingRule scaling;
  double lr_ref = 0.1;
  optim::SyncPolicy sync;
  int workers = 1;
  int node_size = 0;
  std::string study_name;
  std::string mode = "analytic";
  std::vector<std::int64_t> batch_sizes;
  Grid lr_grid;
  std::vector<std::uint64_t> seeds;
  double target = 0.01;               // several targets: the lowest of them (where trials stop)
  std::vector<double> targets;        // study.targets (>= 2, as written) or empty
  std::int64_t max_steps = 100000;
  std::int64_t eval_every = 1;
  int threads = 0;  // resolved: >= 1
  bool record_curves = false;
  std::string output_dir;
  bool no_plot = false;
  // batchlab noise-scale: two-batch estimator settings
  std::int64_t ns_small_batch = 0;
  std::int64_t ns_big_batch = 0;
  std::int64_t ns_samples = 200;
  ResolvedConfig resolved;  // every setting, in table order, as config.ini writes it
  ResolvedConfig defaults;  // the settings table's defaults (resuming studies written before a key existed)
  std::vector<std::string> warnings;  // legal but suspicious settings (printed before the run)
};

// Parses `batchlab sweep` arguments (argv[0] = "sweep"). Returns false if --help was printed.
// Throws optim::ConfigError (one line) on any bad input.
bool parse_sweep_args(int argc, char** argv, SweepConfig& out,
                      const char* usage = "batchlab sweep CONFIG.ini [--section.key=value ...] [--no-plot]");

// The grid of the study (optimizers x batch sizes x lrs x momenta x ema x seeds).
StudyGrid make_grid(const SweepConfig& cfg);

// The simulator's description of one trial of the grid.
sim::TrialSpec make_trial_spec(const SweepConfig& cfg, const TrialPoint& p);

// Every trial of the grid through sim::validate, once, before any runs (the runner then calls
// sim::run_validated_trial). Throws optim::ConfigError "trial ID (optimizer .., batch_size ..,
// lr .., momentum .., seed ..): WHY" for the first impossible one.
void validate_trials(const SweepConfig& cfg, const StudyGrid& grid);

// Name of the metric the simulator reports for this landscape (curves.csv "metric"):
// "expected_loss" in analytic mode, else the sampled landscape's own name.
std::string metric_name(const SweepConfig& cfg);

// Optimizer names the study accepts: optim's registry plus "ema" (iterate averaging in sim).
bool is_known_optimizer(const std::string& name);

}  // namespace batchlab::experiments
