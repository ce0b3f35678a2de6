// batchlab study CONFIG.ini [--section.key=value ...] [--no-plot] [--check]
//
// A critical-batch study on real training (experiments/real_study.h): every trial of the grid is
// a `batchlab train` child process under the configured launcher, results streamed to the same
// files as `batchlab sweep` (resumable after a kill), one progress line per trial with an ETA,
// then the S(B) fit per optimizer with the measured noise scale B_simple beside it.
// Exit status: 0 done, every trial ran; 1 failure while working (the study stopped: a file it
// could not write, sbatch refusing a job, a trial's unreadable summary.json); 2 bad input (one
// line, nothing written or run): the config and every trial's `batchlab train` options are
// validated with the trainer's own validation before the first trial starts; 3 the study ran to
// its end but some trials failed (their `batchlab train` exited with an error, or their Slurm job
// was cancelled with on_cancel = fail): they are marked failed in trials.csv, left out of the
// fit, and each has trials/trial_NNNNN/failure.txt (real_trials.csv column failure).
// --check: that same validation (validate_study below), then the resolved grid, the first trial's
// command line and what could not be checked on this machine on stdout, and exit 0 with nothing
// written or launched (experiments/cli/config_check.h).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <string>

#include <boost/program_options.hpp>

#include "experiments/cli/commands.h"
#include "experiments/cli/config_check.h"
#include "experiments/engine/provenance.h"
#include "experiments/engine/real_study.h"
#include "experiments/engine/slurm.h"
#include "experiments/engine/study_driver.h"
#include "optim/config.h"
#include "realtrain/train_config.h"

namespace batchlab::cli {

using namespace batchlab::experiments;

namespace {

// Is the launcher's program runnable (an absolute/relative path, or found in PATH)?
bool runnable(const std::string& prog) {
  if (prog.find('/') != std::string::npos) return ::access(prog.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const auto end = dirs.find(':', start);
    const std::string d = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!d.empty() && ::access((d + "/" + prog).c_str(), X_OK) == 0) return true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return false;
}

// Everything about the input that a run checks before its first trial: every trial's `batchlab
// train` options through the trainer's own option table and validate_train_config, and the
// launcher program. Throws std::invalid_argument with one line (without "batchlab study: ").
// Under --check (cfg.check) what exists only on the machine the study is meant for is not
// required; it is returned instead, one line each: a missing train.data-dir, a launcher program
// not found here, and for backend = nccl the GPU each rank needs (which no run checks before its
// trials either: each trial's `batchlab train` refuses to start without one).
std::vector<std::string> validate_study(const RealStudyConfig& cfg, const StudyGrid& grid) {
  namespace po = boost::program_options;
  std::vector<std::string> not_checked;
  const std::filesystem::path out_dir(cfg.output_dir);
  realtrain::TrainConfig tc;
  TrialPoint p;
  try {
    for (std::int64_t id = 0; id < grid.size(); ++id) {
      p = grid.point(id);
      const auto args = trial_train_args(cfg, p, trial_dir(out_dir, id));
      tc = realtrain::TrainConfig{};
      po::variables_map vm;
      try {
        po::store(po::command_line_parser(args).options(realtrain::train_options(tc)).run(), vm);
        po::notify(vm);
      } catch (const po::error& e) {
        throw optim::ConfigError(std::string("train options: ") + e.what());
      }
      const bool data_dir_here = std::filesystem::exists(realtrain::resolved_data_dir(tc));
      realtrain::validate_train_config(tc, cfg.ranks, /*check_data_dir=*/data_dir_here || !cfg.check);
    }
  } catch (const std::invalid_argument& e) {
    throw optim::ConfigError(describe_trial(p) + ": " + e.what());
  }
  // [train] is the same for every trial: the last trial's data-dir and backend are all trials'.
  if (cfg.check && !std::filesystem::exists(realtrain::resolved_data_dir(tc)))
    not_checked.push_back("train.data-dir = " + realtrain::resolved_data_dir(tc) +
                          " does not exist here (a run refuses it)");
  if (cfg.check && tc.backend == "nccl")
    not_checked.push_back("train.backend = nccl needs a CUDA device per rank (each trial's batchlab train checks it)");
  if (cfg.scheduler == "slurm") {
    if (const std::string why = slurm::unreachable_reason(); !why.empty()) {
      if (!cfg.check) throw optim::ConfigError("launcher.scheduler = slurm: Slurm is not reachable: " + why);
      not_checked.push_back("launcher.scheduler = slurm: Slurm is not reachable here (" + why + "; a run refuses it)");
    }
  }
  if (!cfg.launcher_command.empty()) {
    const std::string prog = child_command(cfg, "x", {}).front();
    if (!runnable(prog)) {
      if (!cfg.check)
        throw optim::ConfigError("launcher.command = '" + cfg.launcher_command + "': '" + prog +
                                 "' is not an executable program");
      not_checked.push_back("launcher.command: '" + prog + "' is not an executable program here (a run refuses it)");
    }
  }
  return not_checked;
}

// A command line as one shell line: tokens with blanks or shell characters single-quoted.
std::string shell_line(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    const bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                         "0123456789_-+=/.,:@%") == std::string::npos;
    std::string q = a;
    if (!plain) {
      q = "'";
      for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      q += "'";
    }
    if (!s.empty()) s += ' ';
    s += q;
  }
  return s;
}

void print_check(const RealStudyConfig& cfg, const StudyGrid& grid, const TrialReuse& reuse,
                 const std::vector<std::string>& not_checked, const std::string& exe) {
  CheckReport report;
  report.who = "batchlab study";
  report.config_path = cfg.config_path;
  report.output_dir = cfg.output_dir;
  report.not_checked = not_checked;
  std::string budget;
  for (auto b : grid.batch_sizes) {
    const std::int64_t steps = trial_steps(cfg, b), every = trial_eval_every(cfg, b);
    if (!budget.empty()) budget += ", ";
    budget += std::to_string(b) + ": " + (steps > 0 ? std::to_string(steps) : std::string("[train]")) +
              (every > 0 ? "/" + std::to_string(every) : std::string());
  }
  report.details.emplace_back("trial steps", budget + " (batch size: steps/eval interval, unless train.target " +
                                                 "is reached first)");
  report.details.emplace_back("launcher", std::to_string(cfg.ranks) + " rank(s) x " +
                                              std::to_string(cfg.threads_per_rank) + " thread(s) per trial, " +
                                              std::to_string(cfg.threads) + " trial(s) at a time");
  if (!cfg.reuse_dirs.empty()) {
    std::int64_t found = 0;
    for (std::int64_t id = 0; id < grid.size(); ++id) found += reuse.find(cfg, grid.point(id)) != nullptr;
    report.details.emplace_back("reuse", std::to_string(found) + " of " + std::to_string(grid.size()) +
                                             " trials would be copied from study.reuse");
  }
  const auto first_args = trial_train_args(cfg, grid.point(0), trial_dir(cfg.output_dir, 0));
  report.details.emplace_back("first trial", shell_line(child_command(cfg, exe, first_args)));
  report.details.emplace_back("train argv", shell_line(first_args));
  print_check_report(stdout, grid, report);
}

StudySettings study_settings(const RealStudyConfig& cfg) {
  // Trials take seconds to minutes: commit every finished trial to disk at once.
  // How the children are started (mpirun flags, srun, a wrapper) does not change what a trial
  // computes, so a study may resume under another launcher.command; ranks and threads may.
  // Where finished trials are reused from (study.reuse) does not change them either.
  return {.who = "batchlab study",
          .progress_label = "study " + cfg.study_name,
          .output_dir = cfg.output_dir,
          .resolved = cfg.resolved,
          .results = {.curves = cfg.record_curves,
                      .flush_interval_s = 0.0,
                      .ignored_keys = {"study.threads", "output.dir", "launcher.command", "study.reuse",
                                       "launcher.parallel", "launcher.scheduler", "launcher.time_limit",
                                       "launcher.partition", "launcher.account", "launcher.sbatch_options",
                                       "launcher.srun_mpi", "launcher.on_cancel", "launcher.max_resubmits"},
                      .defaults = cfg.defaults},
          .threads = cfg.threads,
          .target_key = "train.target",
          .result_files = "config.ini,summary.json,trials.csv,steps_vs_batch.csv,real_trials.csv,trials/",
          .no_plot = cfg.no_plot,
          .observer = {}};
}

// The Slurm columns of real_trials.csv, from the trial dir (empty for the local scheduler):
// job_id and submissions (jobs.log), submit_time (the last job's), start_time and end_time (of
// the job that ran batchlab train to its end; Unix seconds), nodes.
std::string job_columns(const std::filesystem::path& dir) {
  std::ifstream log(dir / "jobs.log");
  std::string line, last;
  int n = 0;
  while (std::getline(log, line))
    if (!line.empty()) last = line, ++n;
  if (n == 0) return ",,,,,";
  const auto sp = last.find(' ');
  auto first_line = [](const std::filesystem::path& f) {
    std::ifstream in(f);
    std::string l;
    std::getline(in, l);
    return l;
  };
  return last.substr(0, sp) + ',' + std::to_string(n) + ',' + last.substr(sp + 1) + ',' +
         first_line(dir / "job_start") + ',' + first_line(dir / "job_end") + ',' + first_line(dir / "job_nodes");
}

// The trials of a real study: each a `batchlab train` child in its own directory (or a copy of
// an identical finished trial of a study.reuse dir), read back for the results, the progress
// lines, real_trials.csv and the noise-scale summary.
class RealTrials {
 public:
  RealTrials(const RealStudyConfig& cfg, const StudyGrid& grid, const TrialReuse& reuse, std::string exe)
      : cfg_(cfg), grid_(grid), reuse_(reuse), exe_(std::move(exe)), out_dir_(cfg.output_dir) {}

  TrialOutcome run(const TrialPoint& p) {
    const auto dir = trial_dir(out_dir_, p.trial_id);
    // A trial dir left by a killed run is rerun from scratch, unless its Slurm job may still be
    // queued or running (jobs.log): then the driver waits for that job (slurm.h).
    const bool slurm = cfg_.scheduler == "slurm";
    if (!(slurm && std::filesystem::exists(dir / "jobs.log"))) std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::filesystem::remove(dir / "failure.txt");
    const ReuseSource* src = reuse_.find(cfg_, p);
    if (src) {  // the same trial finished in an earlier study: copy it (the source stays as it is)
      std::filesystem::copy(src->dir(), dir, std::filesystem::copy_options::recursive |
                                                 std::filesystem::copy_options::overwrite_existing);
    } else if (slurm) {
      std::vector<std::string> argv = {exe_, "train"};
      for (const auto& a : trial_train_args(cfg_, p, dir)) argv.push_back(a);
      const slurm::JobRecord r = slurm::run_trial_job(dir, "batchlab-" + cfg_.study_name, argv,
                                                      dir / "checkpoint" / "rank0.pt", cfg_.slurm);
      if (!r.failure.empty()) return failed(p, dir, r.failure, dir / "job.out");
    } else {
      const auto cmd = child_command(cfg_, exe_, trial_train_args(cfg_, p, dir));
      const int status = run_child(cmd, dir / "train.log");
      if (status != 0)
        return failed(p, dir, "batchlab train exited with status " + std::to_string(status), dir / "train.log");
    }
    RealTrialResult r = read_trial_result(dir, cfg_.record_curves, cfg_.targets);
    TrialOutcome o = std::move(r.outcome);
    r.outcome = {};
    if (src) {  // the cost of the trial is the original run's
      r.reused_from = src->study_dir + " trial " + std::to_string(src->trial_id);
      o.reused = true;
      o.wall_s = src->wall_s;
    }
    std::lock_guard<std::mutex> lock(mu_);
    extras_[p.trial_id] = r;
    return o;
  }

  // A trial that failed for a reason of its own: failure.txt (the reason and its log's tail), a
  // "failed" outcome with no result, and the study goes on.
  TrialOutcome failed(const TrialPoint& p, const std::filesystem::path& dir, const std::string& reason,
                      const std::filesystem::path& log) {
    write_trial_failure(dir, reason, log);
    TrialOutcome o;
    o.status = TrialStatus::kFailed;
    o.final_metric = std::nan("");
    RealTrialResult r;
    r.b_simple = r.img_per_s = std::nan("");
    r.failure = reason + " (" + std::filesystem::relative(dir / "failure.txt", out_dir_).string() + ")";
    std::lock_guard<std::mutex> lock(mu_);
    extras_[p.trial_id] = r;
    return o;
  }

  // "reached at step 40, acc 0.5123, B_simple 12.3, 4.1 s" (or "reused from DIR trial K"; "loss
  // 2.4816" instead of "acc" in a study with a loss target).
  std::string describe(const TrialPoint& p, const TrialOutcome& o) {
    RealTrialResult r;
    {
      std::lock_guard<std::mutex> lock(mu_);
      r = extras_[p.trial_id];
      extras_.erase(p.trial_id);
    }
    std::string what = to_string(o.status);
    if (o.status == TrialStatus::kFailed) return what + ": " + r.failure;
    if (o.status == TrialStatus::kReached) what += " at step " + std::to_string(o.steps_to_target);
    else what += " after " + std::to_string(r.steps) + " steps";
    char text[512];
    std::snprintf(text, sizeof text, "%s, %s %.4f, B_simple %s, ", what.c_str(),
                  o.metric == "test_loss" ? "loss" : "acc", o.final_metric,
                  std::isfinite(r.b_simple) ? format_number(std::round(r.b_simple * 10) / 10).c_str() : "-");
    char took[32];
    std::snprintf(took, sizeof took, "%.1f s", o.wall_s);
    return text + (r.reused_from.empty() ? std::string(took) : "reused from " + r.reused_from);
  }

  // real_trials.csv: the engine's columns plus what only a real trial has, from the trial
  // directories (so it is complete after a resume too). A failed trial has no result: its
  // failure column names its failure.txt.
  void write_real_trials_csv() const {
    std::string csv =
        "trial_id,optimizer,batch_size,lr,momentum,seed,status,steps,b_simple,img_per_s,dir"
        ",job_id,submissions,submit_time,start_time,end_time,nodes,failure\n";
    for (std::int64_t id = 0; id < grid_.size(); ++id) {
      const TrialPoint p = grid_.point(id);
      const auto dir = trial_dir(out_dir_, id);
      const bool no_result = !trial_failure(dir).empty();
      RealTrialResult r;
      if (no_result) r.outcome.status = TrialStatus::kFailed;
      else r = read_trial_result(dir, false);
      const auto rel = std::filesystem::relative(dir, out_dir_);
      csv += std::to_string(id) + ',' + p.optimizer + ',' + std::to_string(p.batch_size) + ',' +
             format_number(p.lr) + ',' + format_number(p.momentum) + ',' + std::to_string(p.seed) + ',' +
             to_string(r.outcome.status) + ',' + (no_result ? "" : std::to_string(r.steps)) + ',' +
             (no_result ? "" : format_number(r.b_simple)) + ',' + (no_result ? "" : format_number(r.img_per_s)) + ',' +
             rel.string() + ',' + job_columns(dir) + ',' + (no_result ? (rel / "failure.txt").string() : "") + '\n';
    }
    write_file_atomic(out_dir_ / "real_trials.csv", csv);
  }

  // summary.json's study keys, with the measured noise scale beside the fit ("noise_scale").
  nlohmann::json summary(const BestTracker& tracker) {
    noise_ = noise_scale_summary(cfg_, grid_, tracker);
    double target = 0.0, target_loss = -1.0;
    for (const auto& [k, v] : cfg_.resolved) {
      if (k == "train.target") target = std::stod(v);
      if (k == "train.target-loss") target_loss = std::stod(v);
    }
    const bool loss_target = target_loss > 0.0;  // e.g. a language model's validation loss
    // The longest trial budget (that of the smallest batch), as a sweep's max_steps; 0 when the
    // [train] steps / epochs set the length.
    std::int64_t max_steps = 0;
    for (auto b : grid_.batch_sizes) max_steps = std::max(max_steps, trial_steps(cfg_, b));
    return {{"study", cfg_.study_name},
            {"landscape", grid_.landscape},
            {"mode", "real"},
            {"target", cfg_.targets.empty() ? (loss_target ? target_loss : target) : cfg_.targets.front()},
            {"metric", loss_target ? "test_loss" : "test_accuracy"},
            {"metric_direction", loss_target ? "reached when test_loss <= target" : "reached when test_accuracy >= target"},
            {"max_steps", max_steps},
            {"budget", {{"max_steps", cfg_.max_steps}, {"max_epochs", cfg_.max_epochs}, {"train_examples", cfg_.train_examples}}},
            {"config", cfg_.config_path},
            {"noise_scale", noise_}};
  }

  // The fit table's B_simple cell: the median measured B_simple of the optimizer ("-" if none).
  std::string b_simple_cell(const OptimizerSummary& s) const {
    const auto& bsj = noise_["optimizers"][s.optimizer]["b_simple_median"];
    return bsj.is_null() ? std::string("-") : format_number(bsj.get<double>(), 4);
  }

 private:
  const RealStudyConfig& cfg_;
  const StudyGrid& grid_;
  const TrialReuse& reuse_;
  const std::string exe_;
  const std::filesystem::path out_dir_;
  std::mutex mu_;
  std::map<std::int64_t, RealTrialResult> extras_;  // per finished trial, until its progress line
  nlohmann::json noise_;
};

}  // namespace

int cmd_study(int argc, char** argv) { return cmd_study(argc, argv, CommandIo{}); }

int cmd_study(int argc, char** argv, const CommandIo& io) {
  const char* who = "batchlab study";
  RealStudyConfig cfg;
  StudyGrid grid;
  TrialReuse reuse;  // study.reuse: finished trials of earlier studies, by identity
  std::vector<std::string> not_checked;  // --check: what only the target machine has
  // ---- everything that can be wrong with the input, before any work ----
  try {
    if (!parse_real_study_args(argc, argv, cfg)) return 0;
    grid = make_real_grid(cfg);
    reuse = TrialReuse(cfg);
    not_checked = validate_study(cfg, grid);
  } catch (const std::invalid_argument& e) {  // optim::ConfigError and friends
    return io.fail(2, who, e.what());
  }
  // Not bad input (a trial may well fit in its limit), but a requeued job would start over.
  if (cfg.scheduler == "slurm" && !cfg.slurm.time_limit.empty() && cfg.train_config.checkpoint_every == 0)
    std::fprintf(stderr,
                 "%s: warning: launcher.time_limit = %s and train.checkpoint-every = 0: a trial job that hits its "
                 "time limit starts over when submitted again (set train.checkpoint-every)\n",
                 who, cfg.slurm.time_limit.c_str());
  std::string exe;
  try {
    exe = io.batchlab_exe.empty() ? std::filesystem::read_symlink("/proc/self/exe").string() : io.batchlab_exe;
  } catch (const std::exception& e) {
    return io.fail(1, who, std::string("cannot find its own executable: ") + e.what());
  }
  StudySettings settings = study_settings(cfg);
  settings.observer = io.observer;
  StudyDriver driver(grid, std::move(settings));
  try {
    driver.check_resumable();
  } catch (const std::exception& e) {
    return io.fail(2, who, e.what());
  }
  if (cfg.check) {
    print_check(cfg, grid, reuse, not_checked, exe);
    return 0;
  }

  // ---- the study ----
  try {
    const nlohmann::json prov = provenance(argc + 1, argv - 1);  // argv[-1] is "batchlab"
    RealTrials trials(cfg, grid, reuse, exe);
    StudyHooks hooks;
    hooks.run_trial = [&](const TrialPoint& p) { return trials.run(p); };
    hooks.describe = [&](const TrialPoint& p, const TrialOutcome& o) { return trials.describe(p, o); };
    hooks.on_start = [&](std::int64_t) {
      std::fprintf(stderr, "%s: %s: %lld trials, %d rank(s) x %d thread(s) each, %d at a time -> %s\n", who,
                   cfg.study_name.c_str(), static_cast<long long>(grid.size()), cfg.ranks, cfg.threads_per_rank,
                   cfg.threads, cfg.output_dir.c_str());
      if (!cfg.reuse_dirs.empty())
        std::fprintf(stderr, "%s: study.reuse: %zu finished trial(s) in %zu dir(s) to reuse from\n", who,
                     reuse.size(), cfg.reuse_dirs.size());
    };
    hooks.after_trials = [&] { trials.write_real_trials_csv(); };
    hooks.summary = [&](const BestTracker& tracker) { return trials.summary(tracker); };
    hooks.fit_column_header = "B_simple";
    hooks.fit_column_cell = [&](const OptimizerSummary& s) { return trials.b_simple_cell(s); };
    const nlohmann::json launcher = {
        {"command", cfg.launcher_command}, {"ranks", cfg.ranks}, {"threads_per_rank", cfg.threads_per_rank}};
    const std::int64_t failed = driver.run(hooks, prov, {{"launcher", launcher}});
    if (failed > 0) {
      std::fprintf(stderr,
                   "%s: %lld of %lld trials failed (status failed in trials.csv, left out of the fit; why: the "
                   "failure column of real_trials.csv)\n",
                   who, static_cast<long long>(failed), static_cast<long long>(grid.size()));
      return 3;
    }
  } catch (const std::exception& e) {
    return io.fail(1, who, e.what());
  }
  return 0;
}

}  // namespace batchlab::cli
