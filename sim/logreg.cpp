#include "sim/logreg.h"

#include <cmath>
#include <random>

namespace batchlab::sim {
namespace {

// log(1 + exp(z)) without overflow.
double softplus(double z) { return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z)); }
double sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

}  // namespace

LogisticRegression::LogisticRegression(const LandscapeConfig& cfg) : din_(cfg.input_dim) {
  Rng rng = make_rng(cfg.data_seed, kDataStream);
  data_ = draw_inputs(cfg, rng);
  std::normal_distribution<double> n(0.0, 1.0);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Eigen::VectorXd w(din_);
  for (auto& v : w) v = n(rng);
  auto label = [&](const auto& x) {
    double y = w.dot(x) > 0.0 ? 1.0 : 0.0;
    if (u(rng) < cfg.label_noise) y = 1.0 - y;
    return y;
  };
  for (Eigen::Index j = 0; j < data_.y_train.size(); ++j) data_.y_train[j] = label(data_.x_train.col(j));
  for (Eigen::Index j = 0; j < data_.y_test.size(); ++j) data_.y_test[j] = label(data_.x_test.col(j));
  groups_ = {{"weight", 0, din_, false}, {"bias", din_, 1, true}};
}

Eigen::VectorXd LogisticRegression::initial_point(Rng& rng) const {
  std::normal_distribution<double> n(0.0, 1.0 / std::sqrt(double(din_)));
  Eigen::VectorXd t(dim());
  for (Eigen::Index i = 0; i < din_; ++i) t[i] = n(rng);
  t[din_] = 0.0;
  return t;
}

double LogisticRegression::loss(const Eigen::VectorXd& t) const {
  const Eigen::VectorXd z = (data_.x_train.transpose() * t.head(din_)).array() + t[din_];
  double s = 0.0;
  for (Eigen::Index j = 0; j < z.size(); ++j)
    s += softplus(data_.y_train[j] > 0.5 ? -z[j] : z[j]);
  return s / static_cast<double>(z.size());
}

double LogisticRegression::metric(const Eigen::VectorXd& t) const {
  const Eigen::VectorXd z = (data_.x_test.transpose() * t.head(din_)).array() + t[din_];
  std::int64_t wrong = 0;
  for (Eigen::Index j = 0; j < z.size(); ++j) wrong += (z[j] > 0.0) != (data_.y_test[j] > 0.5);
  return static_cast<double>(wrong) / static_cast<double>(z.size());
}

void LogisticRegression::batch_grad(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                    const Eigen::VectorXd& t, Eigen::VectorXd& g) const {
  Eigen::VectorXd r = (x.transpose() * t.head(din_)).array() + t[din_];
  for (Eigen::Index j = 0; j < r.size(); ++j) r[j] = sigmoid(r[j]) - y[j];
  const double inv = 1.0 / static_cast<double>(r.size());
  g.resize(dim());
  g.head(din_) = inv * (x * r);
  g[din_] = inv * r.sum();
}

void LogisticRegression::gradient(const Eigen::VectorXd& t, std::int64_t batch, BatchStream& s,
                                  Eigen::VectorXd& g) const {
  s.next_batch(data_.y_train.size(), batch, idx_);
  gather(data_.x_train, data_.y_train, idx_, xb_, yb_);
  batch_grad(xb_, yb_, t, g);
}

void LogisticRegression::full_gradient(const Eigen::VectorXd& t, Eigen::VectorXd& g) const {
  batch_grad(data_.x_train, data_.y_train, t, g);
}

Eigen::VectorXd LogisticRegression::curvature_diagonal() const {
  Eigen::VectorXd d(dim());
  d.head(din_) = 0.25 * data_.x_train.array().square().rowwise().mean().matrix();
  d[din_] = 0.25;
  return d;
}

}  // namespace batchlab::sim
