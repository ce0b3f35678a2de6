// The loss scaling law of Hoffmann et al. 2022 ("Training compute-optimal large language models"),
// fitted by their third approach:
//
//   L(N, D) = E + A / N^alpha + B / D^beta        (N parameters, D training tokens / examples)
//
// written in log-sum-exp form with a = ln A, b = ln B, e = ln E, so every parameter is free:
//
//   ln L_hat(N, D) = LSE(a - alpha ln N,  b - beta ln D,  e),
//
// and fitted by minimising  sum_i Huber_delta(ln L_hat(N_i, D_i) - ln L_i),  delta = 1e-3
// (Huber(r) = r^2 / 2 for |r| <= delta, delta (|r| - delta / 2) beyond: squared near the fit,
// absolute for outliers). The objective is not convex, so, as they do, L-BFGS (memory 10,
// Armijo backtracking; the gradient is analytic) starts from every point of a grid --
// alpha, beta in {0, 0.5, ..., 2}, e in {-1, -0.5, ..., 1}, a, b in {0, 5, ..., 25}
// (4500 starts) -- and the lowest objective wins.
//
// Compute-optimal allocation for C = 6 N D FLOPs (minimising L at fixed C):
//   N_opt(C) = G (C/6)^a_N,  D_opt(C) = G^-1 (C/6)^b_D,
//   a_N = beta / (alpha + beta),  b_D = alpha / (alpha + beta),  G = (alpha A / (beta B))^(1/(alpha+beta)).
//
// Uncertainty: a pairs bootstrap over the rows (each replicate draws as many rows as there are,
// with replacement; std::mt19937_64 with a fixed seed, indices as in fit.h), each replicate
// refitted by L-BFGS from the full data's optimum and from the 8 best starts of the grid, and the
// 95% percentile interval of every parameter and derived exponent.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "experiments/engine/fit.h"

namespace batchlab::experiments {

struct LossPoint {
  double n = 0.0, d = 0.0, loss = 0.0;
};

// theta = (a, b, e, alpha, beta).
using LossTheta = std::array<double, 5>;

struct LossLawOptions {
  double huber_delta = 1e-3;
  int bootstrap_replicates = 200;
  double level = 0.95;
  std::uint64_t seed = 20220329;
  int max_iterations = 2000;
};

struct LossLawValue {
  double value = 0.0, lo = 0.0, hi = 0.0;  // lo, hi: the bootstrap interval (NaN when none)
};

struct LossLawFit {
  LossTheta theta{};     // the optimum in LSE form
  double objective = 0.0;  // sum of Huber losses at the optimum
  double rms_log_error = 0.0;
  int points = 0;
  int starts = 0;        // L-BFGS starts of the full fit
  int replicates = 0;    // bootstrap replicates fitted
  // E, A, B, alpha, beta, a_N, b_D, G, in that order (names: loss_law_names()).
  std::vector<LossLawValue> values;
};
const std::vector<std::string>& loss_law_names();

// ln L_hat of point p under theta, and the Huber objective with its gradient (d objective / d theta).
double loss_law_log_prediction(const LossTheta& theta, const LossPoint& p);
double loss_law_objective(const LossTheta& theta, const std::vector<LossPoint>& points, double delta,
                          LossTheta* gradient = nullptr);

// L-BFGS from `start`; returns the minimiser (objective through `objective`).
LossTheta minimise_loss_law(const std::vector<LossPoint>& points, LossTheta start, const LossLawOptions& o,
                            double* objective);

// The whole fit (grid of starts, best optimum, bootstrap). Throws TableError (fit.h) when there
// are fewer than 5 points or fewer than 2 distinct N or D.
LossLawFit fit_loss_law(const std::vector<LossPoint>& points, const LossLawOptions& options = {});

// Rows of a CSV (read_csv_table, fit.h: CRLF line ends and quoted fields accepted) with columns
// n_column, d_column, loss_column (all values > 0). Throws TableError.
std::vector<LossPoint> read_loss_table(const std::filesystem::path& csv, const std::string& n_column,
                                       const std::string& d_column, const std::string& loss_column);

// DIR/loss_fit.csv: parameter, value, lo, hi (one row per loss_law_names() entry).
void write_loss_law(const LossLawFit& fit, const std::filesystem::path& dir);

}  // namespace batchlab::experiments
