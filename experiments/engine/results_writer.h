// Results of a study on disk (every column and key: docs/results_schema.md):
//
//   config.ini          resolved settings, every default written out (written before any trial)
//   trials.csv          one row per trial, in trial_id order
//   curves.csv          optional, long format: trial_id, step, examples, lr, metric, value
//   steps_vs_batch.csv  one row per (optimizer, batch size): the best trial
//   summary.json        per optimizer: b_crit, s_min, e_min, fit error, knee; provenance
//
// Crash safety. Every file is replaced atomically: the new content is written to NAME.tmp,
// fsync'ed and renamed over NAME, so a reader (or a restart after SIGKILL) sees either the old
// or the new file, never a torn row. Finished trials are appended in trial_id order; to keep the
// cost of copy-and-rename bounded, rows are committed at most every `flush_interval_s` seconds
// (longer when the copy itself gets slow: at most ~5% of the time) and at the end, so a kill
// loses only the trials since the last commit, which the restart recomputes.
// curves.csv is committed before trials.csv, and a restart drops curve rows of trials that are
// not in trials.csv, so no row is ever duplicated.
//
// Resume. trials.csv holds a prefix of the grid in trial_id order; on restart each row's
// identity (trial_id, optimizer, batch_size, lr, momentum, ema_decay, seed) must match the grid
// at that position, and the rows are replayed into the BestTracker, so the final files are the
// same as those of an uninterrupted run. A directory whose config.ini differs from the current
// one (other than study.threads and output.dir, which do not change results) is refused.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/engine/fit.h"
#include "experiments/engine/study_engine.h"
#include "optim/io.h"

namespace batchlab::experiments {

// Ordered "section.key" -> value pairs, as written to config.ini.
using ResolvedConfig = std::vector<std::pair<std::string, std::string>>;

// Thrown when an output directory cannot be resumed into (different config, foreign rows).
// The CLI reports it in one line with exit status 2.
struct ResumeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Shortest decimal that reads back to the same double, and whole-file replace through NAME.tmp +
// fsync + rename (optim/io.h, shared with the trainer).
using optim::format_number;
using optim::write_file_atomic;

std::string config_ini_text(const ResolvedConfig& config);
ResolvedConfig parse_config_ini_text(const std::string& text);  // throws ResumeError

// Column names, in file order: those of a one-target study, and those of `grid`'s study (a
// several-target study adds "target" last; trials.csv then has one row per (trial, target)).
const std::vector<std::string>& trials_columns();
const std::vector<std::string>& steps_vs_batch_columns();
std::vector<std::string> trials_columns(const StudyGrid& grid);
std::vector<std::string> steps_vs_batch_columns(const StudyGrid& grid);
const std::vector<std::string>& curves_columns();

class ResultsWriter {
 public:
  struct Options {
    bool curves = false;
    double flush_interval_s = 0.2;  // 0: commit after every trial
    std::vector<std::string> ignored_keys = {"study.threads", "output.dir"};
    // The settings table's defaults. A key missing from an existing config.ini (a setting added
    // to batchlab after that study was written) is accepted when this run has it at its default,
    // which by convention reproduces the behaviour from before the key existed.
    ResolvedConfig defaults{};
  };

  ResultsWriter(std::filesystem::path dir, const StudyGrid& grid, Options options);

  // Throws ResumeError if `dir` holds a study with another config or rows not of this grid.
  // Touches nothing on disk.
  void check_resumable(const ResolvedConfig& config) const;

  // Creates the directory and config.ini (if new), drops uncommitted curve rows, replays the
  // committed trials into `tracker`, and returns how many trials are done (the first trial_id
  // to run).
  std::int64_t open(const ResolvedConfig& config, BestTracker& tracker);

  // Queue one finished trial (in trial_id order); commits when the flush interval has passed.
  void append(const TrialPoint& p, const TrialOutcome& o);
  void flush();

  const std::filesystem::path& dir() const { return dir_; }

 private:
  // Replays trials.csv into the tracker after checking each row's identity; returns the trials done.
  std::int64_t replay_trials(const std::filesystem::path& trials, BestTracker& tracker) const;

  std::filesystem::path dir_;
  const StudyGrid& grid_;
  Options options_;
  std::string pending_trials_, pending_curves_;
  double last_flush_ = 0.0;
  double last_flush_cost_ = 0.0;
};

struct OptimizerSummary {
  std::string optimizer;
  double target = std::numeric_limits<double>::quiet_NaN();  // several-target studies: the target of this fit
  CriticalBatchFit fit;
  FitInterval ci;  // bootstrap intervals of b_crit, s_min, knee (fit.h)
  std::vector<std::int64_t> edge_batches;  // best lr on the grid edge at these batch sizes
};

// Writes steps_vs_batch.csv and summary.json (atomically) from the tracker; `extra` is merged
// into summary.json (study settings, provenance). Returns the per-optimizer fits (several
// targets: one per (target, optimizer), target-major).
std::vector<OptimizerSummary> write_summaries(const std::filesystem::path& dir, const StudyGrid& grid,
                                              const BestTracker& tracker, const nlohmann::json& extra);

}  // namespace batchlab::experiments
