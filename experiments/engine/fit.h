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

// batch_sizes and steps of the reached batch sizes (any order; steps > 0).
CriticalBatchFit fit_critical_batch(const std::vector<double>& batch_sizes,
                                    const std::vector<double>& steps);

// Relative-to-B0 knee of measured points (see header comment); 0 if none.
double measured_knee(const std::vector<double>& batch_sizes, const std::vector<double>& steps,
                     double excess = 0.2);

}  // namespace batchlab::experiments
