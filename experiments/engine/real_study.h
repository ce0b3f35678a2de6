// `batchlab study CONFIG.ini [--section.key=value ...]`: a critical-batch study whose trials are
// real training runs. The grid, the reduction (median over seeds, best lr per batch size), the
// S(B) = S_min (1 + B_crit / B) fit and the output files are those of `batchlab sweep`
// (study_engine.h, results_writer.h); only the trial runner differs: each trial is one
// `batchlab train` child process (the same executable), started under the configured launcher
// (e.g. mpirun -np 2) in its own directory OUTPUT/trials/trial_NNNNN, whose summary.json
// (status, steps_to_target, final_accuracy, b_simple) and metrics.csv are read back.
//
// INI sections (the command line overrides any key as --section.key=value):
//   [study]    name, batch_sizes, lr_grid, seeds, optimizers, momentum_grid, max_steps, max_epochs,
//              train_examples, eval_every_examples, eval_every_max, threads, record_curves, reuse
//   [launcher] command (a prefix such as "mpirun -np {ranks} --bind-to none"; {ranks} and
//              {threads} are substituted; empty = run the child directly, one rank), ranks, threads,
//              parallel (trials in flight; study.threads is its older name), scheduler (local |
//              slurm), and for slurm: time_limit, partition, account, sbatch_options, srun_mpi,
//              on_cancel (requeue | fail), max_resubmits (see "Slurm" below)
//   [train]    any `batchlab train` option by its own name (dataset, model, warmup, target, ...),
//              except those the study sets per trial: batch-size, seed, output, resume, threads.
//   [output]   dir
//
// LR grids. An absolute grid (list, log:, lin:) passes each lr as --lr with no scaling rule.
// A scaled grid ("scaled:LO:HI:N", multipliers, as McCandlish et al. centre their grid on a rule)
// multiplies [train] lr, and the child applies [train] scaling / batch-ref to it, so the lr the
// trial runs with is multiplier x scaling(B; batch-ref, lr) -- the value written to trials.csv.
//
// Several targets (study.targets = t1,t2,...): [train] target (or target-loss) must be the
// hardest of them, so each trial is exactly the one-target study's trial at that target; the
// first crossing of every other target is read from the trial's evaluations in metrics.csv.
//
// Trial length. A trial stops at [train] target (test accuracy, reached from below) or
// target-loss (test loss, reached from above: a language model's validation loss in nats per
// token; the study's metric is then test_loss), or at its budget:
//   steps(B) = max(study.max_steps, ceil(study.max_epochs x train_examples / B))
// (either may be 0; when both are 0 the [train] steps / epochs are used as given); under a [train]
// batch schedule the epoch budget is the first update after which max_epochs x train_examples
// examples are done (optim::BatchSchedule, as the trainer counts them). The maximum
// of a step budget and an example budget covers both ends of S(B): small batches need ~E_min
// examples, large ones ~S_min steps, so neither end is cut off by a budget sized for the other.
// Evaluation every min(eval_every_max, ceil(eval_every_examples / B)) steps (>= 1) keeps the
// steps-to-target resolution comparable across batch sizes; 0 keeps [train] eval-every.
//
// Resume: rows already in trials.csv are skipped (results_writer.h); a trial directory left by a
// killed run is deleted and the trial rerun. Children die with the study (PR_SET_PDEATHSIG).
// Diverged trials (non-finite loss; the trainer stops at once) are marked "diverged" and
// excluded from the best-lr reduction and the fit. A trial whose `batchlab train` fails by itself
// (a non-zero exit, a crash; under Slurm also a job cancelled with on_cancel = fail) is marked
// "failed", with its reason and log tail in failure.txt (write_trial_failure), left out of the
// reduction and the fit, and the study goes on (it exits 3 at the end: cmd_study.cpp). A resume
// keeps it failed; a new study with study.reuse = the old dir reruns only the trials without a
// result.
//
// Reuse ([study] reuse = DIR[,DIR...], output dirs of earlier `batchlab study` runs): extends a
// finished (or still running) study's grid without rerunning the trials it already has. A trial
// is a deterministic function of its settings, so before trial i is launched the reuse dirs are
// searched, in the order given, for a committed trial (a row of DIR/trials.csv whose
// DIR/trials/trial_K/summary.json has a terminal status: reached, not_reached or diverged) with
// the same identity. Identity = every `batchlab train` option the trial would be launched with
// except --output (the child's argv after "train", from summary.json provenance.argv, each
// option resolved to its value by the trainer's own option table, so "0.90" = "0.9" and an
// explicit default = an omitted key) plus the number of ranks (provenance.ranks). That argv
// holds everything that shapes a trial: optimizer, batch size, lr, momentum, seed, every
// [train] key, the step budget (study.max_steps / max_epochs / train_examples), the evaluation
// interval (study.eval_every_examples / eval_every_max) and launcher.threads; the launcher
// command, study.threads and study.record_curves do not change what a trial computes. (The
// trainer's code is assumed unchanged: the reused trial's git_sha stays in its summary.json.)
// On a match the trial directory is copied (the source is never moved or modified) to this
// study's trials/trial_NNNNN and read back exactly as a fresh trial's; its wall_s in trials.csv
// is the original run's, and the progress line says "reused from DIR trial K". No match: the
// trial runs. study.reuse is not part of the study's identity (a resume may add or drop it).
// A reuse dir that does not exist, is not a study output dir (config.ini with a [launcher]
// section, trials.csv, trials/) or is this study's own output.dir is bad input (exit 2).
//
// Slurm (launcher.scheduler = slurm): every trial is its own batch job (sbatch --ntasks=ranks
// --cpus-per-task=threads, the time limit / partition / account / extra options of [launcher]),
// `batchlab train` inside it under `srun --mpi=srun_mpi`; up to launcher.parallel jobs in flight
// (individual jobs rather than an array: a trial can then be resubmitted alone, and each job's
// limit fits its own trial). A job that ends before batchlab train did (time limit, preemption,
// node failure, scancel with on_cancel = requeue) is submitted again and continues from the
// trial's last checkpoint, so set [train] checkpoint-every (a study with launcher.time_limit and
// no checkpoints is warned about); the driver logs every submission in
// the trial's jobs.log first, so a killed driver restarted with the same command waits for the
// jobs still queued or running instead of submitting them again. `scancel --name=batchlab-NAME`
// cancels a whole study (jobs are named batchlab-<study.name>). real_trials.csv records job_id,
// submit_time, start_time, end_time and nodes per trial.
//
// Noise scale. With >= 2 ranks the trainer measures B_simple (two-batch estimator, EMA). The study
// reports, per optimizer and batch size, B_simple at the end of the best trial (i.e. at the
// target; a non-positive estimate from a short noisy run is left out) and their median next to
// B_crit in summary.json ("noise_scale") and on stdout; real_trials.csv adds b_simple,
// img_per_s and the trial directory to every trial.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/engine/grid.h"
#include "experiments/engine/results_writer.h"
#include "experiments/engine/slurm.h"
#include "experiments/engine/study_engine.h"
#include "realtrain/train_config.h"

namespace batchlab::experiments {

struct RealStudyConfig {
  std::string config_path;
  std::string study_name;
  std::vector<std::int64_t> batch_sizes;
  Grid lr_grid;
  std::vector<std::uint64_t> seeds;
  std::vector<std::string> optimizers;
  std::vector<double> momenta;
  std::int64_t max_steps = 0;
  double max_epochs = 0.0;
  std::int64_t train_examples = 0;        // resolved (auto: from the dataset name)
  std::int64_t eval_every_examples = 0;   // 0: [train] eval-every
  std::int64_t eval_every_max = 0;        // 0: no cap
  int threads = 1;                        // trials at once
  bool record_curves = true;
  // study.targets (>= 2, as written) or empty; in the metric of train.target, or of
  // train.target-loss when loss_targets, which is set to the hardest of them.
  std::vector<double> targets;
  bool loss_targets = false;
  // launcher
  std::string launcher_command;           // as written, with {ranks} / {threads}
  int ranks = 1;
  int threads_per_rank = 1;
  // launcher.scheduler: "local" (children of this process under launcher.command) or "slurm"
  // (one batch job per trial, experiments/engine/slurm.h; ranks started by srun).
  std::string scheduler = "local";
  slurm::JobOptions slurm;  // scheduler = slurm: ntasks = ranks, time limit, partition, ...
  // [train]: option name -> value as written (explicit ones only) and the resolved values.
  std::vector<std::pair<std::string, std::string>> train;
  // [train] resolved, defaults included: lr (lr_ref of a scaled grid), scaling rule, dataset...
  realtrain::TrainConfig train_config;
  optim::BatchScheduleConfig train_batch_schedule;
  std::vector<std::string> reuse_dirs;    // [study] reuse, checked to be study output dirs
  std::string output_dir;
  bool no_plot = false;
  bool check = false;  // --check: validate, print the grid, write and launch nothing (config_check.h)
  ResolvedConfig resolved;
  ResolvedConfig defaults;  // [study]/[launcher]/[output] table defaults (resuming older studies)
};

// Parses `batchlab study` arguments (argv[0] = "study"), --check included. Returns false if
// --help was printed.
// Throws optim::ConfigError (one line naming section.key and the value) on any bad input.
bool parse_real_study_args(int argc, char** argv, RealStudyConfig& out);

// The grid: optimizers x batch sizes x lrs x momenta x seeds (no EMA axis).
StudyGrid make_real_grid(const RealStudyConfig& cfg);

// The `batchlab train` options of one trial (without the program name), e.g.
// {"--dataset=fashion-mnist", ..., "--batch-size=256", "--lr=0.1", "--seed=0", "--output=DIR"}.
std::vector<std::string> trial_train_args(const RealStudyConfig& cfg, const TrialPoint& p,
                                          const std::filesystem::path& trial_dir);

// Trial length and evaluation interval (see header comment); 0 = as [train] says.
std::int64_t trial_steps(const RealStudyConfig& cfg, std::int64_t batch_size);
std::int64_t trial_eval_every(const RealStudyConfig& cfg, std::int64_t batch_size);

// The whole child command line: launcher tokens ({ranks}, {threads} substituted), `exe`,
// "train", then the train args.
std::vector<std::string> child_command(const RealStudyConfig& cfg, const std::string& exe,
                                       const std::vector<std::string>& train_args);

std::filesystem::path trial_dir(const std::filesystem::path& output_dir, std::int64_t trial_id);

// Runs `argv` as a child process with stdout and stderr appended to `log`, which dies with this
// process. Returns the exit status (128 + signal if killed by a signal). Throws on fork/exec
// failure (exec failure: status 127 in the log).
int run_child(const std::vector<std::string>& argv, const std::filesystem::path& log);

// A failed trial (optim/trial_status.h: its `batchlab train` exited with an error, or its Slurm
// job was cancelled with on_cancel = fail, or ended early more than max_resubmits times) leaves
// trials/trial_NNNNN/failure.txt: the reason on the first line, then the last `lines` lines of its
// log (train.log of a local trial, the job's job.out under Slurm: the trainer's stderr tail).
// Written atomically; the study records the trial as failed and goes on.
void write_trial_failure(const std::filesystem::path& dir, const std::string& reason,
                         const std::filesystem::path& log, std::size_t lines = 20);
// The reason (first line of failure.txt) of a failed trial; "" when the trial did not fail.
std::string trial_failure(const std::filesystem::path& dir);

// What a finished trial left in its directory (summary.json, metrics.csv).
struct RealTrialResult {
  TrialOutcome outcome;
  double b_simple = 0.0;   // NaN when not measured
  double img_per_s = 0.0;
  std::int64_t steps = 0;
  std::string reused_from;  // "DIR trial K" when copied from a reuse dir (set by the runner)
  std::string failure;      // a failed trial: why, and where its failure.txt is (set by the runner)
};
// Throws std::runtime_error naming the file when summary.json is missing or malformed.
// With `targets` (study.targets), outcome.per_target holds each target's first crossing, read
// from the evaluations in metrics.csv (see target_crossings in real_study.cpp).
RealTrialResult read_trial_result(const std::filesystem::path& dir, bool with_curve,
                                  const std::vector<double>& targets = {});

// The identity of a trial for study.reuse: its `batchlab train` options (argv after "train")
// without --output, each resolved to its value (defaults included) by the trainer's option
// table, and the number of ranks. "" when the options do not parse (e.g. written by a build with
// other options), which matches nothing.
std::string trial_identity(const std::vector<std::string>& train_args, int ranks);

// A committed trial of a reuse dir.
struct ReuseSource {
  std::string study_dir;   // as given in study.reuse
  std::int64_t trial_id = 0;
  double wall_s = 0.0;     // its trials.csv wall_s
  std::filesystem::path dir() const { return trial_dir(study_dir, trial_id); }
};

// The committed trials of every study.reuse dir, by identity (the first dir listed wins).
class TrialReuse {
 public:
  TrialReuse() = default;
  // Throws optim::ConfigError naming study.reuse when a dir's trials.csv has no trial_id /
  // wall_s columns. Rows whose summary.json is missing, unreadable or not terminal are skipped.
  explicit TrialReuse(const RealStudyConfig& cfg);
  // The reusable trial for grid point p of this study, or nullptr.
  const ReuseSource* find(const RealStudyConfig& cfg, const TrialPoint& p) const;
  std::size_t size() const { return by_identity_.size(); }

 private:
  std::map<std::string, ReuseSource> by_identity_;
};

// Per (optimizer, batch size) B_simple of the best point (median over its seeds, read from the
// trial directories) and the median over batch sizes, as summary.json "noise_scale".
nlohmann::json noise_scale_summary(const RealStudyConfig& cfg, const StudyGrid& grid,
                                   const BestTracker& tracker);

}  // namespace batchlab::experiments
