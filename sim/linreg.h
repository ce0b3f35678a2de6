// Linear regression on synthetic data (finite sum; see finite_sum.h for the inputs).
//
//   y = w*' x + b* + label_noise * N(0,1),   w* ~ N(0, I), b* = 0.5
//   L(w, b) = 1/(2n) sum_n (w' x_n + b - y_n)^2,   grad = 1/|batch| sum (w'x + b - y) (x, 1)
// Metric: test MSE = mean over the test set of (w' x + b - y)^2 (the target applies to it).
// Optimum: the least-squares solution of the training set (normal equations), so
// optimum_loss() is the exact minimum of L. Groups: "weight" (input_dim), "bias" (1; excluded
// from weight decay and layer adaptation). Initial point: w ~ N(0, 1/input_dim), b = 0.
// Curvature diagonal (precond): the exact Hessian diagonal, mean x_j^2 and 1 for the bias.
#pragma once

#include "sim/finite_sum.h"
#include "sim/landscape.h"

namespace batchlab::sim {

class LinearRegression final : public Landscape {
 public:
  explicit LinearRegression(const LandscapeConfig& cfg);
  std::int64_t dim() const override { return din_ + 1; }
  const std::vector<Group>& groups() const override { return groups_; }
  Eigen::VectorXd initial_point(Rng& rng) const override;
  double loss(const Eigen::VectorXd& theta) const override;
  double metric(const Eigen::VectorXd& theta) const override;
  std::string metric_name() const override { return "test_mse"; }
  void gradient(const Eigen::VectorXd& theta, std::int64_t batch, BatchStream& stream,
                Eigen::VectorXd& g) const override;
  void full_gradient(const Eigen::VectorXd& theta, Eigen::VectorXd& g) const override;
  std::optional<double> optimum_loss() const override { return optimum_loss_; }
  Eigen::VectorXd curvature_diagonal() const override;
  std::int64_t train_examples() const override { return data_.y_train.size(); }
  const Eigen::VectorXd& optimum() const { return optimum_; }

 private:
  void batch_grad(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, const Eigen::VectorXd& theta,
                  Eigen::VectorXd& g) const;
  std::int64_t din_;
  FiniteSumData data_;
  std::vector<Group> groups_;
  Eigen::VectorXd optimum_;
  double optimum_loss_ = 0.0;
  mutable Eigen::MatrixXd xb_;
  mutable Eigen::VectorXd yb_;
  mutable std::vector<std::int64_t> idx_;
};

}  // namespace batchlab::sim
