#include "sim/linreg.h"

#include <Eigen/Cholesky>
#include <random>

namespace batchlab::sim {

LinearRegression::LinearRegression(const LandscapeConfig& cfg)
    : LinearModel(cfg, 1.0, [&cfg](Rng& rng, FiniteSumData& data) {
        std::normal_distribution<double> n(0.0, 1.0);
        Eigen::VectorXd w(cfg.input_dim);
        for (auto& v : w) v = n(rng);
        const double b = 0.5;
        for (Eigen::Index j = 0; j < data.y_train.size(); ++j)
          data.y_train[j] = w.dot(data.x_train.col(j)) + b + cfg.label_noise * n(rng);
        for (Eigen::Index j = 0; j < data.y_test.size(); ++j)
          data.y_test[j] = w.dot(data.x_test.col(j)) + b + cfg.label_noise * n(rng);
      }) {
  // Least squares on the training set: [X; 1] [X; 1]' theta = [X; 1] y.
  const Eigen::Index nt = data_.y_train.size();
  Eigen::MatrixXd xa(din_ + 1, nt);
  xa.topRows(din_) = data_.x_train;
  xa.row(din_).setOnes();
  const Eigen::MatrixXd gram = xa * xa.transpose();
  optimum_ = gram.ldlt().solve(xa * data_.y_train);
  optimum_loss_ = loss(optimum_);
}

double LinearRegression::loss(const Eigen::VectorXd& t) const {
  Eigen::VectorXd r = predict(t, data_.x_train);
  residual(r, data_.y_train);
  return 0.5 * r.squaredNorm() / static_cast<double>(r.size());
}

double LinearRegression::metric(const Eigen::VectorXd& t) const {
  Eigen::VectorXd r = predict(t, data_.x_test);
  residual(r, data_.y_test);
  return r.squaredNorm() / static_cast<double>(r.size());
}

void LinearRegression::residual(Eigen::VectorXd& z, const Eigen::VectorXd& y) const { z -= y; }

}  // namespace batchlab::sim
