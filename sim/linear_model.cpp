#include "sim/linear_model.h"

#include <cmath>
#include <random>

namespace batchlab::sim {

LinearModel::LinearModel(const LandscapeConfig& cfg, double curvature_scale, const Teacher& teacher)
    : din_(cfg.input_dim), curvature_scale_(curvature_scale) {
  Rng rng = make_rng(cfg.data_seed, kDataStream);
  data_ = draw_inputs(cfg, rng);
  teacher(rng, data_);
  groups_ = {{"weight", 0, din_, false}, {"bias", din_, 1, true}};
}

Eigen::VectorXd LinearModel::initial_point(Rng& rng) const {
  std::normal_distribution<double> n(0.0, 1.0 / std::sqrt(double(din_)));
  Eigen::VectorXd t(dim());
  for (Eigen::Index i = 0; i < din_; ++i) t[i] = n(rng);
  t[din_] = 0.0;
  return t;
}

Eigen::VectorXd LinearModel::predict(const Eigen::VectorXd& t, const Eigen::MatrixXd& x) const {
  return (x.transpose() * t.head(din_)).array() + t[din_];
}

void LinearModel::batch_grad(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, const Eigen::VectorXd& t,
                             Eigen::VectorXd& g) const {
  Eigen::VectorXd r = predict(t, x);
  residual(r, y);
  const double inv = 1.0 / static_cast<double>(r.size());
  g.resize(dim());
  g.head(din_) = inv * (x * r);
  g[din_] = inv * r.sum();
}

void LinearModel::gradient(const Eigen::VectorXd& t, std::int64_t batch, BatchStream& s, Eigen::VectorXd& g) const {
  s.next_batch(data_.y_train.size(), batch, idx_);
  gather(data_.x_train, data_.y_train, idx_, xb_, yb_);
  batch_grad(xb_, yb_, t, g);
}

void LinearModel::full_gradient(const Eigen::VectorXd& t, Eigen::VectorXd& g) const {
  batch_grad(data_.x_train, data_.y_train, t, g);
}

Eigen::VectorXd LinearModel::curvature_diagonal() const {
  Eigen::VectorXd d(dim());
  d.head(din_) = curvature_scale_ * data_.x_train.array().square().rowwise().mean().matrix();
  d[din_] = curvature_scale_;
  return d;
}

}  // namespace batchlab::sim
