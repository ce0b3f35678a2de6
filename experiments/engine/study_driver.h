// The one study driver of `batchlab sweep` (simulated trials) and `batchlab study` (real training
// runs, each a `batchlab train` child): everything a study does around its trials, so that a
// command says only how a trial runs and what it adds to the results.
//
//   check_resumable  before any work: the output dir is new, or holds this very study
//                    (results_writer.h); otherwise ResumeError, which the commands report as
//                    bad input (exit 2).
//   run              opens the results (config.ini, trials.csv, curves.csv), replays the trials
//                    already done into the best-per-batch tracker ("WHO: resuming DIR: N of M
//                    trials already done"), runs the rest on `threads` threads (study_engine.h)
//                    and streams each finished trial, in trial order, to the results and to the
//                    progress display; then writes summary.json and steps_vs_batch.csv (the S(B)
//                    fit, fit.h), warns about best lrs on the grid edge and targets met before
//                    the first update, prints the fit table and the results line, and plots.
//
// Progress: a bar on a terminal (progress.h), or, when the command describes its trials, one
// stderr line per finished trial with the elapsed time and an ETA from this run's trials (reused
// trials, TrialOutcome::reused, are left out of the rate).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "experiments/engine/results_writer.h"
#include "experiments/engine/study_engine.h"
#include "experiments/engine/study_report.h"

namespace batchlab::experiments {

// A caller that runs a study from outside a terminal (the Python module, experiments/python): told
// where the study goes and of every committed trial, and able to stop it. The callbacks run on
// the engine's threads (on_trial under its lock, in trial order): keep them short.
struct StudyObserver {
  std::function<void(const std::filesystem::path& dir, std::int64_t done, std::int64_t total)> on_start;
  std::function<void(std::int64_t done, std::int64_t total)> on_trial;
  // Set from another thread: no trial starts after it, the finished ones are committed, and run()
  // throws StudyCancelled, so the output dir resumes like one of a killed study.
  const std::atomic<bool>* stop = nullptr;
};

struct StudyCancelled : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct StudySettings {
  std::string who;                  // "batchlab sweep": the prefix of every message
  std::string progress_label;       // the progress bar's label, e.g. "sweep NAME"
  std::filesystem::path output_dir;
  ResolvedConfig resolved;          // config.ini
  ResultsWriter::Options results;
  int threads = 1;                  // trials at once
  std::string target_key;           // "study.target": named when a target is met before any update
  std::string result_files;         // listed on the closing "results:" line (curves.csv added if kept)
  bool no_plot = false;
  StudyObserver observer;
};

// What a command plugs into the driver. Only run_trial is required.
struct StudyHooks {
  TrialRunner run_trial;  // called on the engine's threads (study_engine.h)
  // After the results are open; `done` trials were finished before this run.
  std::function<void(std::int64_t done)> on_start;
  // The text of a finished trial's progress line ("reached at step 40, acc 0.5123, ..."), which
  // the driver frames as "[i/N] OPT B=.. lr=.. m=.. seed=..: TEXT | elapsed .., ETA ..". Empty:
  // a progress bar instead.
  std::function<std::string(const TrialPoint&, const TrialOutcome&)> describe;
  // After every trial is committed, before the summaries: result files of the command's own.
  std::function<void()> after_trials;
  // The command's summary.json keys (study, landscape, mode, target, metric, ...). The driver
  // adds "optimizers", "trials", "definitions" (results_writer.h) and "provenance".
  std::function<nlohmann::json(const BestTracker&)> summary;
  // An extra column of the fit table (study_report.h), e.g. the measured noise scale.
  std::function<std::string(const OptimizerSummary&)> fit_column_cell;
  std::string fit_column_header;
};

class StudyDriver {
 public:
  StudyDriver(const StudyGrid& grid, StudySettings settings);

  // Throws ResumeError if the output dir holds another study. Touches nothing.
  void check_resumable() const;

  // The study (see the header comment). `provenance` (provenance.h, taken when the command
  // started) gets finished_utc, seeds and resumed_at_trial, plus `provenance_extra`'s keys, and
  // goes into summary.json. Returns the number of failed trials (TrialStatus::kFailed, this run's
  // and those committed before a resume), which the study leaves out of its results. Throws on a
  // failure while working (a runner's exception, a file).
  std::int64_t run(const StudyHooks& hooks, nlohmann::json provenance, const nlohmann::json& provenance_extra = {});

 private:
  // The per-optimizer warnings after the fit: best lrs on the edge of the grid, targets met
  // before the first update (such batch sizes are left out of the fit).
  void warn(const std::vector<OptimizerSummary>& summaries, const BestTracker& tracker) const;

  const StudyGrid& grid_;
  StudySettings settings_;
  ResultsWriter writer_;
};

}  // namespace batchlab::experiments
