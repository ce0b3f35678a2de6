// Synthetic finite-sum data shared by linreg, logreg and mlp: a train and a test split drawn from
// the same distribution with LandscapeConfig::data_seed (never from the trial seed, so every
// trial of a study sees the same dataset).
//
// Inputs x in R^input_dim are anisotropic Gaussians, x_j = z_j / sqrt(j + 1), z ~ N(0, I): the
// input covariance has eigenvalues 1/(j+1), a power-law spectrum like the NQM's, so batch size and
// curvature interact as they do in the NQM. Columns of X are examples.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <vector>

#include "sim/rng.h"
#include "sim/trial.h"

namespace batchlab::sim {

struct FiniteSumData {
  Eigen::MatrixXd x_train, x_test;  // input_dim x n
  Eigen::VectorXd y_train, y_test;
};

// Inputs only (labels are set by each landscape's teacher).
FiniteSumData draw_inputs(const LandscapeConfig& cfg, Rng& rng);
// Columns `idx` of x (and entries of y) as a contiguous batch.
void gather(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, const std::vector<std::int64_t>& idx,
            Eigen::MatrixXd& xb, Eigen::VectorXd& yb);

}  // namespace batchlab::sim
