// Logistic regression on synthetic data (finite sum; see finite_sum.h for the inputs).
//
//   label y = 1[w*' x > 0] (w* ~ N(0, I)), flipped with probability label_noise; s = 2y - 1
//   L(w, b) = 1/n sum_n log(1 + exp(-s_n (w' x_n + b)))
//   grad = 1/|batch| sum (sigmoid(w'x + b) - y) (x, 1)
// Metric: test error, the fraction of test examples with 1[w'x + b > 0] != y (Shallue et al.
// report error, so the target applies to it; its floor is about label_noise). No closed-form
// optimum. Groups: "weight", "bias". Initial point: w ~ N(0, 1/input_dim), b = 0.
// Curvature diagonal (precond): the Hessian diagonal at w = 0, 1/4 mean x_j^2 (and 1/4 for b).
#pragma once

#include "sim/finite_sum.h"
#include "sim/landscape.h"

namespace batchlab::sim {

class LogisticRegression final : public Landscape {
 public:
  explicit LogisticRegression(const LandscapeConfig& cfg);
  std::int64_t dim() const override { return din_ + 1; }
  const std::vector<Group>& groups() const override { return groups_; }
  Eigen::VectorXd initial_point(Rng& rng) const override;
  double loss(const Eigen::VectorXd& theta) const override;
  double metric(const Eigen::VectorXd& theta) const override;
  std::string metric_name() const override { return "test_error"; }
  void gradient(const Eigen::VectorXd& theta, std::int64_t batch, BatchStream& stream,
                Eigen::VectorXd& g) const override;
  void full_gradient(const Eigen::VectorXd& theta, Eigen::VectorXd& g) const override;
  Eigen::VectorXd curvature_diagonal() const override;
  std::int64_t train_examples() const override { return data_.y_train.size(); }

 private:
  void batch_grad(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, const Eigen::VectorXd& theta,
                  Eigen::VectorXd& g) const;
  std::int64_t din_;
  FiniteSumData data_;
  std::vector<Group> groups_;
  mutable Eigen::MatrixXd xb_;
  mutable Eigen::VectorXd yb_;
  mutable std::vector<std::int64_t> idx_;
};

}  // namespace batchlab::sim
