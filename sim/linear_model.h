// What linear regression (linreg.h) and logistic regression (logreg.h) share: a linear model
// z = w' x + b on synthetic finite-sum data (finite_sum.h), theta = (w, b), whose per-example
// loss l(z, y) differs but whose gradient has the same shape:
//
//   grad = 1/|batch| sum_n r_n (x_n, 1),   r_n = dl/dz (z_n, y_n)
//   (linreg: r = z - y;  logreg: r = sigmoid(z) - y)
//
// This base owns the data (inputs drawn from the data stream of data_seed, labels set by the
// subclass's teacher from the same stream), the parameter groups "weight" (input_dim) and "bias"
// (1; excluded from weight decay and layer adaptation), the initial point w ~ N(0, 1/input_dim),
// b = 0, the minibatch draw (BatchStream::next_batch + gather) and the curvature diagonal
// c mean x_j^2 (and c for b), with c = 1 for linreg's exact Hessian and 1/4 for logreg's at w = 0.
#pragma once

#include <functional>

#include "sim/finite_sum.h"
#include "sim/landscape.h"

namespace batchlab::sim {

class LinearModel : public Landscape {
 public:
  std::int64_t dim() const final { return din_ + 1; }
  const std::vector<Group>& groups() const final { return groups_; }
  Eigen::VectorXd initial_point(Rng& rng) const final;
  void gradient(const Eigen::VectorXd& theta, std::int64_t batch, BatchStream& stream,
                Eigen::VectorXd& g) const final;
  void full_gradient(const Eigen::VectorXd& theta, Eigen::VectorXd& g) const final;
  Eigen::VectorXd curvature_diagonal() const final;
  std::int64_t train_examples() const final { return data_.y_train.size(); }

 protected:
  // Sets data.y_train and data.y_test, drawing from rng (the data stream, after the inputs).
  using Teacher = std::function<void(Rng& rng, FiniteSumData& data)>;
  LinearModel(const LandscapeConfig& cfg, double curvature_scale, const Teacher& teacher);

  // z = w' x + b for every column of x.
  Eigen::VectorXd predict(const Eigen::VectorXd& theta, const Eigen::MatrixXd& x) const;
  // z -> r = dl/dz (z, y), in place.
  virtual void residual(Eigen::VectorXd& z, const Eigen::VectorXd& y) const = 0;

  std::int64_t din_;
  FiniteSumData data_;

 private:
  void batch_grad(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, const Eigen::VectorXd& theta,
                  Eigen::VectorXd& g) const;
  double curvature_scale_;
  std::vector<Group> groups_;
  mutable Eigen::MatrixXd xb_;
  mutable Eigen::VectorXd yb_;
  mutable std::vector<std::int64_t> idx_;
};

}  // namespace batchlab::sim
