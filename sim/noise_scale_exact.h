// Exact gradient noise scales of the noisy quadratic model (McCandlish, Kaplan, Amodei et al.
// 2018), for `batchlab noise-scale` and the McCandlish reproduction.
//
// Per-example gradient noise covariance Sigma = C (diagonal c_i), true gradient G = H theta:
//   B_simple = tr(Sigma) / |G|^2          = sum c_i / sum h_i^2 theta_i^2
//   B_noise  = tr(H Sigma) / (G' H G)     = sum h_i c_i / sum h_i^3 theta_i^2
// At a given theta (in the NQM's own coordinates, theta_i for h_i = i^-curvature_power), or "in
// expectation" over theta with E theta_i^2 = s_i: the ratio of expectations (the quantity the
// estimator's separate EMAs of numerator and denominator converge to).
#pragma once

#include <Eigen/Core>

#include "sim/trial.h"

namespace batchlab::sim {

struct NoiseScale {
  double b_simple = 0.0;
  double b_noise = 0.0;
  double grad_sq = 0.0;      // |G|^2
  double trace_sigma = 0.0;  // tr(Sigma)
};

// Throws optim::ConfigError unless cfg.kind == "nqm" and theta has cfg.dim entries.
NoiseScale exact_noise_scale(const LandscapeConfig& cfg, const Eigen::VectorXd& theta);
// With E theta_i^2 = second_moment_i (e.g. init_variance at the start of training).
NoiseScale expected_noise_scale(const LandscapeConfig& cfg, const Eigen::VectorXd& second_moment);

}  // namespace batchlab::sim
