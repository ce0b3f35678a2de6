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

LogisticRegression::LogisticRegression(const LandscapeConfig& cfg)
    : LinearModel(cfg, 0.25, [&cfg](Rng& rng, FiniteSumData& data) {
        std::normal_distribution<double> n(0.0, 1.0);
        std::uniform_real_distribution<double> u(0.0, 1.0);
        Eigen::VectorXd w(cfg.input_dim);
        for (auto& v : w) v = n(rng);
        auto label = [&](const auto& x) {
          double y = w.dot(x) > 0.0 ? 1.0 : 0.0;
          if (u(rng) < cfg.label_noise) y = 1.0 - y;
          return y;
        };
        for (Eigen::Index j = 0; j < data.y_train.size(); ++j) data.y_train[j] = label(data.x_train.col(j));
        for (Eigen::Index j = 0; j < data.y_test.size(); ++j) data.y_test[j] = label(data.x_test.col(j));
      }) {}

double LogisticRegression::loss(const Eigen::VectorXd& t) const {
  const Eigen::VectorXd z = predict(t, data_.x_train);
  double s = 0.0;
  for (Eigen::Index j = 0; j < z.size(); ++j)
    s += softplus(data_.y_train[j] > 0.5 ? -z[j] : z[j]);
  return s / static_cast<double>(z.size());
}

double LogisticRegression::metric(const Eigen::VectorXd& t) const {
  const Eigen::VectorXd z = predict(t, data_.x_test);
  std::int64_t wrong = 0;
  for (Eigen::Index j = 0; j < z.size(); ++j) wrong += (z[j] > 0.0) != (data_.y_test[j] > 0.5);
  return static_cast<double>(wrong) / static_cast<double>(z.size());
}

void LogisticRegression::residual(Eigen::VectorXd& z, const Eigen::VectorXd& y) const {
  for (Eigen::Index j = 0; j < z.size(); ++j) z[j] = sigmoid(z[j]) - y[j];
}

}  // namespace batchlab::sim
