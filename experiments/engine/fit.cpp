#include "experiments/engine/fit.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace batchlab::experiments {
namespace {

struct Objective {
  const std::vector<double>& b;
  const std::vector<double>& log_s;
  // Sum of squared residuals with log S_min profiled out; also returns that log S_min.
  double operator()(double b_crit, double* log_s_min = nullptr) const {
    const std::size_t n = b.size();
    double mean = 0.0;
    for (std::size_t i = 0; i < n; ++i) mean += log_s[i] - std::log1p(b_crit / b[i]);
    mean /= static_cast<double>(n);
    double sse = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      const double r = log_s[i] - mean - std::log1p(b_crit / b[i]);
      sse += r * r;
    }
    if (log_s_min) *log_s_min = mean;
    return sse;
  }
};

}  // namespace

double measured_knee(const std::vector<double>& batch_sizes, const std::vector<double>& steps,
                     double excess) {
  std::vector<std::size_t> order(batch_sizes.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t c) { return batch_sizes[a] < batch_sizes[c]; });
  if (order.empty()) return 0.0;
  const double e0 = batch_sizes[order[0]] * steps[order[0]];
  for (std::size_t k = 1; k < order.size(); ++k) {
    const std::size_t i = order[k];
    if (batch_sizes[i] * steps[i] > (1.0 + excess) * e0) return batch_sizes[i];
  }
  return 0.0;
}

CriticalBatchFit fit_critical_batch(const std::vector<double>& batch_sizes,
                                    const std::vector<double>& steps) {
  if (batch_sizes.size() != steps.size())
    throw std::invalid_argument("fit_critical_batch: batch_sizes and steps differ in length");
  CriticalBatchFit f;
  f.points = static_cast<int>(batch_sizes.size());
  if (f.points < 2) return f;
  std::vector<double> log_s(steps.size());
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (!(steps[i] > 0.0 && batch_sizes[i] > 0.0))
      throw std::invalid_argument("fit_critical_batch: batch sizes and steps must be > 0");
    log_s[i] = std::log(steps[i]);
  }
  const Objective obj{batch_sizes, log_s};
  const auto [bmin, bmax] = std::minmax_element(batch_sizes.begin(), batch_sizes.end());
  // B_crit far outside the measured range is indistinguishable from 0 or infinity; 12 e-folds
  // (a factor 1.6e5) on either side is plenty.
  const double u_lo = std::log(*bmin) - 12.0, u_hi = std::log(*bmax) + 12.0;
  const int scan = 2400;
  double best_u = u_lo, best = obj(std::exp(u_lo));
  int best_k = 0;
  for (int k = 1; k <= scan; ++k) {
    const double u = u_lo + (u_hi - u_lo) * k / scan;
    const double v = obj(std::exp(u));
    if (v < best) best = v, best_u = u, best_k = k;
  }
  // Golden-section refinement in the bracket around the scan minimum.
  const double h = (u_hi - u_lo) / scan;
  double a = std::max(u_lo, best_u - h), c = std::min(u_hi, best_u + h);
  const double g = (std::sqrt(5.0) - 1.0) / 2.0;
  double x1 = c - g * (c - a), x2 = a + g * (c - a);
  double f1 = obj(std::exp(x1)), f2 = obj(std::exp(x2));
  for (int it = 0; it < 200 && c - a > 1e-13; ++it) {
    if (f1 < f2) {
      c = x2, x2 = x1, f2 = f1;
      x1 = c - g * (c - a), f1 = obj(std::exp(x1));
    } else {
      a = x1, x1 = x2, f1 = f2;
      x2 = a + g * (c - a), f2 = obj(std::exp(x2));
    }
  }
  const double u_ref = f1 < f2 ? x1 : x2;
  if (std::min(f1, f2) < best) best_u = u_ref;
  double log_s_min = 0.0;
  const double sse = obj(std::exp(best_u), &log_s_min);
  f.ok = true;
  f.bounded = best_k != 0 && best_k != scan;
  f.b_crit = std::exp(best_u);
  f.s_min = std::exp(log_s_min);
  f.e_min = f.b_crit * f.s_min;
  f.rms_log_error = std::sqrt(sse / static_cast<double>(f.points));
  f.knee_batch = 0.2 * f.b_crit;
  f.knee_batch_measured = measured_knee(batch_sizes, steps);
  return f;
}

}  // namespace batchlab::experiments
