#include "sim/linreg.h"

#include <Eigen/Cholesky>
#include <random>

namespace batchlab::sim {

LinearRegression::LinearRegression(const LandscapeConfig& cfg) : din_(cfg.input_dim) {
  Rng rng = make_rng(cfg.data_seed, kDataStream);
  data_ = draw_inputs(cfg, rng);
  std::normal_distribution<double> n(0.0, 1.0);
  Eigen::VectorXd w(din_);
  for (auto& v : w) v = n(rng);
  const double b = 0.5;
  for (Eigen::Index j = 0; j < data_.y_train.size(); ++j)
    data_.y_train[j] = w.dot(data_.x_train.col(j)) + b + cfg.label_noise * n(rng);
  for (Eigen::Index j = 0; j < data_.y_test.size(); ++j)
    data_.y_test[j] = w.dot(data_.x_test.col(j)) + b + cfg.label_noise * n(rng);
  groups_ = {{"weight", 0, din_, false}, {"bias", din_, 1, true}};
  // Least squares on the training set: [X; 1] [X; 1]' theta = [X; 1] y.
  const Eigen::Index nt = data_.y_train.size();
  Eigen::MatrixXd xa(din_ + 1, nt);
  xa.topRows(din_) = data_.x_train;
  xa.row(din_).setOnes();
  const Eigen::MatrixXd gram = xa * xa.transpose();
  optimum_ = gram.ldlt().solve(xa * data_.y_train);
  optimum_loss_ = loss(optimum_);
}

Eigen::VectorXd LinearRegression::initial_point(Rng& rng) const {
  std::normal_distribution<double> n(0.0, 1.0 / std::sqrt(double(din_)));
  Eigen::VectorXd t(dim());
  for (Eigen::Index i = 0; i < din_; ++i) t[i] = n(rng);
  t[din_] = 0.0;
  return t;
}

double LinearRegression::loss(const Eigen::VectorXd& t) const {
  const Eigen::VectorXd r =
      (data_.x_train.transpose() * t.head(din_)).array() + t[din_] - data_.y_train.array();
  return 0.5 * r.squaredNorm() / static_cast<double>(r.size());
}

double LinearRegression::metric(const Eigen::VectorXd& t) const {
  const Eigen::VectorXd r =
      (data_.x_test.transpose() * t.head(din_)).array() + t[din_] - data_.y_test.array();
  return r.squaredNorm() / static_cast<double>(r.size());
}

void LinearRegression::batch_grad(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                  const Eigen::VectorXd& t, Eigen::VectorXd& g) const {
  const Eigen::VectorXd r = (x.transpose() * t.head(din_)).array() + t[din_] - y.array();
  const double inv = 1.0 / static_cast<double>(r.size());
  g.resize(dim());
  g.head(din_) = inv * (x * r);
  g[din_] = inv * r.sum();
}

void LinearRegression::gradient(const Eigen::VectorXd& t, std::int64_t batch, BatchStream& s,
                                Eigen::VectorXd& g) const {
  s.next_batch(data_.y_train.size(), batch, idx_);
  gather(data_.x_train, data_.y_train, idx_, xb_, yb_);
  batch_grad(xb_, yb_, t, g);
}

void LinearRegression::full_gradient(const Eigen::VectorXd& t, Eigen::VectorXd& g) const {
  batch_grad(data_.x_train, data_.y_train, t, g);
}

Eigen::VectorXd LinearRegression::curvature_diagonal() const {
  Eigen::VectorXd d(dim());
  d.head(din_) = data_.x_train.array().square().rowwise().mean().matrix();
  d[din_] = 1.0;
  return d;
}

}  // namespace batchlab::sim
