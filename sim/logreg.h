// Logistic regression on synthetic data (finite sum; see finite_sum.h for the inputs).
//
//   label y = 1[w*' x > 0] (w* ~ N(0, I)), flipped with probability label_noise; s = 2y - 1
//   L(w, b) = 1/n sum_n log(1 + exp(-s_n (w' x_n + b)))
//   grad = 1/|batch| sum (sigmoid(w'x + b) - y) (x, 1)
// Metric: test error, the fraction of test examples with 1[w'x + b > 0] != y (Shallue et al.
// report error, so the target applies to it; its floor is about label_noise). No closed-form
// optimum. Groups: "weight", "bias". Initial point: w ~ N(0, 1/input_dim), b = 0.
// Curvature diagonal (precond): the Hessian diagonal at w = 0, 1/4 mean x_j^2 (and 1/4 for b).
// Data, groups, initial point, minibatches and gradient shape: linear_model.h (shared with linreg).
#pragma once

#include "sim/linear_model.h"

namespace batchlab::sim {

class LogisticRegression final : public LinearModel {
 public:
  explicit LogisticRegression(const LandscapeConfig& cfg);
  double loss(const Eigen::VectorXd& theta) const override;
  double metric(const Eigen::VectorXd& theta) const override;
  std::string metric_name() const override { return "test_error"; }

 private:
  void residual(Eigen::VectorXd& z, const Eigen::VectorXd& y) const override;  // sigmoid(z) - y
};

}  // namespace batchlab::sim
