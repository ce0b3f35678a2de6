// The console report that `batchlab sweep` and `batchlab study` share: the one-line trial
// description of their bad-input errors, the warning about best lrs on the grid edge, and the
// critical-batch fit table (S(B) = S_min (1 + B_crit / B), fit.h) with an optional extra column
// (`study` adds the measured noise scale B_simple).
#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "experiments/engine/results_writer.h"
#include "experiments/engine/study_engine.h"

namespace batchlab::experiments {

// "trial ID (optimizer O, batch_size B, lr L, momentum M, seed S)"
std::string describe_trial(const TrialPoint& p);

// One stderr line `WHO: warning: OPT: best lr on the edge of study.lr_grid at batch sizes ...`
// per optimizer whose best lr sat on the grid edge at some batch size.
void warn_edge_lrs(const std::vector<OptimizerSummary>& summaries, const char* who);

// A column after knee_B: its header and its cell text for an optimizer (e.g. "-" when unknown).
struct FitTableColumn {
  std::string header;
  std::function<std::string(const OptimizerSummary&)> cell;
};

// The fit table, one row per optimizer: B_crit, S_min, E_min, fit_rms, knee_B[, extra], with
// "(unbounded fit)" after a fit whose optimum is at the end of its range, and a note instead of
// numbers where fewer than 2 batch sizes reached the target (the extra cell then follows it as
// `HEADER CELL`).
void print_fit_table(std::FILE* out, const std::vector<OptimizerSummary>& summaries,
                     const FitTableColumn* extra = nullptr);

}  // namespace batchlab::experiments
