// Linear regression on synthetic data (finite sum; see finite_sum.h for the inputs).
//
//   y = w*' x + b* + label_noise * N(0,1),   w* ~ N(0, I), b* = 0.5
//   L(w, b) = 1/(2n) sum_n (w' x_n + b - y_n)^2,   grad = 1/|batch| sum (w'x + b - y) (x, 1)
// Metric: test MSE = mean over the test set of (w' x + b - y)^2 (the target applies to it).
// Optimum: the least-squares solution of the training set (normal equations), so
// optimum_loss() is the exact minimum of L. Groups: "weight" (input_dim), "bias" (1; excluded
// from weight decay and layer adaptation). Initial point: w ~ N(0, 1/input_dim), b = 0.
// Curvature diagonal (precond): the exact Hessian diagonal, mean x_j^2 and 1 for the bias.
// Data, groups, initial point, minibatches and gradient shape: linear_model.h (shared with logreg).
#pragma once

#include "sim/linear_model.h"

namespace batchlab::sim {

class LinearRegression final : public LinearModel {
 public:
  explicit LinearRegression(const LandscapeConfig& cfg);
  double loss(const Eigen::VectorXd& theta) const override;
  double metric(const Eigen::VectorXd& theta) const override;
  std::string metric_name() const override { return "test_mse"; }
  std::optional<double> optimum_loss() const override { return optimum_loss_; }
  const Eigen::VectorXd& optimum() const { return optimum_; }

 private:
  void residual(Eigen::VectorXd& z, const Eigen::VectorXd& y) const override;  // z - y
  Eigen::VectorXd optimum_;
  double optimum_loss_ = 0.0;
};

}  // namespace batchlab::sim
