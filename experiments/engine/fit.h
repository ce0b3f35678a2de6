// Critical-batch fit of steps-to-target vs batch size (McCandlish, Kaplan, Amodei et al. 2018):
//
//   S(B) = S_min (1 + B_crit / B),   E(B) = B S(B) = E_min (1 + B / B_crit),   E_min = B_crit S_min
//
// fitted by least squares on log S over the batch sizes that reached the target. For a fixed
// B_crit the best log S_min is the mean residual, so the fit is a 1-D minimisation over log B_crit
// (dense scan then golden-section refinement), which cannot get stuck in a local minimum of
// a badly scaled 2-D problem.
//
// Knee ("steps exceed perfect scaling by 20%"). Perfect scaling is the small-batch asymptote of
// the fitted curve, S_perfect(B) = S_min B_crit / B (constant examples E_min). The fitted curve
// exceeds it by the factor S_fit / S_perfect = 1 + B / B_crit, so it exceeds it by 20% at
//   knee_batch = 0.2 B_crit.
// Because that is a property of the fit alone, the measured counterpart is reported too:
//   knee_batch_measured = the smallest measured batch B whose examples B S(B) exceed
//   1.2 x B0 S(B0), B0 = the smallest batch that reached the target (0 if none does).
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace batchlab::experiments {

struct CriticalBatchFit {
  bool ok = false;         // false: fewer than 2 reached batch sizes
  int points = 0;
  double b_crit = 0.0;
  double s_min = 0.0;
  double e_min = 0.0;      // b_crit * s_min
  double rms_log_error = 0.0;  // sqrt(mean (log S - log S_fit)^2), natural log
  // false when the optimum sits at the end of the search range (e.g. perfect scaling over the
  // whole measured range gives B_crit -> infinity): the numbers are then lower/upper bounds.
  bool bounded = true;
  double knee_batch = 0.0;           // 0.2 b_crit (see above)
  double knee_batch_measured = 0.0;  // 0 when no measured batch exceeds perfect scaling by 20%
};

// batch_sizes and steps of the reached batch sizes (any order; steps > 0). `scan` = points of the
// dense scan over ln B_crit before the golden-section refinement (the bootstrap uses fewer).
CriticalBatchFit fit_critical_batch(const std::vector<double>& batch_sizes,
                                    const std::vector<double>& steps, int scan = 2400);

// Bootstrap confidence intervals of B_crit, S_min and the knee (percentile method, Efron &
// Tibshirani 1993). The data are the steps per seed at each batch size (+inf where a seed did
// not reach the target), i.e. the best point's seeds of a study or the rows of a table:
//   over seeds       (some batch size has >= 2 seeds): each replicate draws, at every batch size
//                    independently, as many seeds as it has, with replacement; a batch size's
//                    steps are the median of the draw (+inf, so left out, when half or more did
//                    not reach); the replicate is then fitted like the data;
//   over batch sizes (one seed everywhere): each replicate draws as many (B, S) points as there
//                    are, with replacement (a pairs bootstrap; needs >= 3 points).
// The interval is [q((1-level)/2), q((1+level)/2)] of the replicates' fits (numpy's linear
// quantile); replicates with fewer than 2 distinct batch sizes cannot be fitted and are left
// out. The best lr of each batch size is held fixed, so the interval leaves out the uncertainty
// of choosing it. Reproducible: the draws come from std::mt19937_64 (whose output the C++
// standard fixes) seeded with `seed`, mapped to indices by floor(u * n), u in [0, 1) from 53 bits.
struct BootstrapOptions {
  int replicates = 1000;
  double level = 0.95;
  std::uint64_t seed = 20190314;
};
struct FitInterval {
  bool ok = false;            // false: too little data (fewer than 3 points with one seed)
  const char* over = "";      // "seeds" | "batch_sizes"
  int replicates = 0;         // drawn
  int fitted = 0;             // of them, fitted (>= 2 distinct batch sizes)
  double level = 0.95;
  double b_crit_lo = 0.0, b_crit_hi = 0.0;
  double s_min_lo = 0.0, s_min_hi = 0.0;
  double knee_lo = 0.0, knee_hi = 0.0;  // of knee_batch = 0.2 B_crit
};
FitInterval bootstrap_critical_batch(const std::vector<double>& batch_sizes,
                                     const std::vector<std::vector<double>>& seed_steps,
                                     const BootstrapOptions& options = {});

// numpy.quantile(v, q) (linear interpolation) of a non-empty vector.
double quantile(std::vector<double> v, double q);

// Relative-to-B0 knee of measured points (see header comment); 0 if none.
double measured_knee(const std::vector<double>& batch_sizes, const std::vector<double>& steps,
                     double excess = 0.2);

// ---- Fitting somebody else's table (`batchlab fit TABLE.csv [--by COLUMN]`) ----
// Any CSV with a batch_size column and steps_to_target (or examples_to_target, divided by the
// batch size) is fitted exactly as a study's best points are: per group (the values of column
// `by`, or one group "all"), per batch size, the rows are the seeds of one point, whose steps
// are their median (a row whose status column, when there is one, is not "reached" counts as
// +inf, as in the study's reduction); the S(B) fit and its bootstrap interval are those above.
// A table of a whole grid (an lr column, and momentum / ema_decay when present, varying within
// a batch size) is first reduced as a study is: the hyperparameters with the fewest median steps
// per batch size, ties to the first listed.
struct TableError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
// A CSV table as batchlab fit reads it (both laws): the header and rows of trimmed fields, surrounding
// double quotes dropped (no commas inside quotes), CRLF line ends accepted (Python's csv module
// writes them), blank lines skipped. Throws TableError: no such file, no header, a row whose field
// count differs from the header's (naming the file and line).
struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<int> line;  // file line of each row
  int column(const std::string& name) const;  // index of column `name`, or -1
};
CsvTable read_csv_table(const std::filesystem::path& path);
struct TableGroupFit {
  std::string group;
  std::vector<double> batch_sizes;               // ascending, those that reached the target
  std::vector<std::vector<double>> seed_steps;   // per batch size: the best point's rows' steps
  std::vector<double> steps;                     // per batch size: their median
  CriticalBatchFit fit;
  FitInterval ci;
};
struct TableFit {
  std::string steps_column;  // "steps_to_target" or "examples_to_target"
  std::vector<TableGroupFit> groups;  // in order of first appearance
};
// Throws TableError, one line naming the file, row and value: no such file, a missing column, a
// value that is not a number or not > 0 (a reached row), a group with fewer than 3 batch sizes
// that reached the target.
TableFit fit_table(const std::filesystem::path& csv, const std::string& by = "");
// DIR/fit.csv (group, b_crit, s_min, e_min, fit_rms, b_crit_lo, b_crit_hi, points) and
// DIR/fit_points.csv (group, batch_size, steps_to_target: the fitted points).
void write_table_fit(const TableFit& fit, const std::filesystem::path& dir);

// Kaplan et al. 2020's critical batch against the loss target L:
//   B_crit(L) = B* / L^(1/alpha_B),   i.e.   ln B_crit = ln B* - (1/alpha_B) ln L,
// fitted by ordinary least squares on (ln L, ln B_crit). Needs >= 2 distinct targets; a slope of
// 0 (B_crit independent of L) has no finite alpha_B and leaves ok false.
struct PowerLawFit {
  bool ok = false;
  int points = 0;
  double b_star = 0.0;
  double alpha_b = 0.0;
  double rms_log_error = 0.0;  // rms of ln B_crit - ln B_crit_fit
};
PowerLawFit fit_b_crit_vs_target(const std::vector<double>& targets, const std::vector<double>& b_crits);

}  // namespace batchlab::experiments
