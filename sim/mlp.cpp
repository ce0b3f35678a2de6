#include "sim/mlp.h"

#include <random>
#include <stdexcept>

#include "optim/config.h"

namespace batchlab::sim {
namespace {

using Eigen::Map;
using Eigen::MatrixXd;

// Weights W_l (n_l x n_{l-1}, column-major) and biases b_l at their offsets in theta.
struct Layout {
  const std::vector<std::int64_t>& widths;
  const std::vector<std::int64_t>& w_off;
  const std::vector<std::int64_t>& b_off;
  Map<const MatrixXd> W(const Eigen::VectorXd& t, std::size_t l) const {
    return {t.data() + w_off[l], widths[l + 1], widths[l]};
  }
  Map<const Eigen::VectorXd> b(const Eigen::VectorXd& t, std::size_t l) const {
    return {t.data() + b_off[l], widths[l + 1]};
  }
};

}  // namespace

Mlp::Mlp(const LandscapeConfig& cfg) {
  widths_.push_back(cfg.input_dim);
  for (auto h : cfg.hidden) widths_.push_back(h);
  widths_.push_back(1);
  for (std::size_t l = 0; l + 1 < widths_.size(); ++l) {
    // Names built by append: GCC 12 flags "W" + std::to_string(...) with a false -Wrestrict.
    std::string wname = "W", bname = "b";
    wname.append(std::to_string(l + 1));
    bname.append(std::to_string(l + 1));
    w_off_.push_back(dim_);
    groups_.push_back({wname, dim_, widths_[l + 1] * widths_[l], false});
    dim_ += widths_[l + 1] * widths_[l];
    b_off_.push_back(dim_);
    groups_.push_back({bname, dim_, widths_[l + 1], true});
    dim_ += widths_[l + 1];
  }
  Rng rng = make_rng(cfg.data_seed, kDataStream);
  data_ = draw_inputs(cfg, rng);
  // Teacher: same architecture, W ~ N(0, 1/fan_in), b ~ N(0, 0.1^2).
  Eigen::VectorXd teacher(dim_);
  std::normal_distribution<double> n(0.0, 1.0);
  for (std::size_t l = 0; l + 1 < widths_.size(); ++l) {
    const double sd = 1.0 / std::sqrt(static_cast<double>(widths_[l]));
    for (std::int64_t i = 0; i < widths_[l + 1] * widths_[l]; ++i) teacher[w_off_[l] + i] = sd * n(rng);
    for (std::int64_t i = 0; i < widths_[l + 1]; ++i) teacher[b_off_[l] + i] = 0.1 * n(rng);
  }
  const Eigen::RowVectorXd ftr = forward(teacher, data_.x_train);
  const Eigen::RowVectorXd fte = forward(teacher, data_.x_test);
  for (Eigen::Index j = 0; j < ftr.size(); ++j) data_.y_train[j] = ftr[j] + cfg.label_noise * n(rng);
  for (Eigen::Index j = 0; j < fte.size(); ++j) data_.y_test[j] = fte[j] + cfg.label_noise * n(rng);
}

Eigen::VectorXd Mlp::initial_point(Rng& rng) const {
  Eigen::VectorXd t = Eigen::VectorXd::Zero(dim_);
  std::normal_distribution<double> n(0.0, 1.0);
  for (std::size_t l = 0; l + 1 < widths_.size(); ++l) {
    const double sd = 1.0 / std::sqrt(static_cast<double>(widths_[l]));
    for (std::int64_t i = 0; i < widths_[l + 1] * widths_[l]; ++i) t[w_off_[l] + i] = sd * n(rng);
  }
  return t;
}

Eigen::RowVectorXd Mlp::forward(const Eigen::VectorXd& t, const Eigen::MatrixXd& x) const {
  const Layout lay{widths_, w_off_, b_off_};
  MatrixXd a = x;
  const std::size_t L = widths_.size() - 1;
  for (std::size_t l = 0; l < L; ++l) {
    MatrixXd z = lay.W(t, l) * a;
    z.colwise() += lay.b(t, l);
    a = l + 1 < L ? MatrixXd(z.array().tanh()) : z;
  }
  return a.row(0);
}

double Mlp::loss_and_grad(const Eigen::VectorXd& t, const Eigen::MatrixXd& x,
                          const Eigen::VectorXd& y, Eigen::VectorXd* g) const {
  const Layout lay{widths_, w_off_, b_off_};
  const std::size_t L = widths_.size() - 1;
  std::vector<MatrixXd> acts;  // a_0 .. a_{L-1} (inputs of each layer)
  acts.reserve(L);
  acts.push_back(x);
  MatrixXd out;
  for (std::size_t l = 0; l < L; ++l) {
    MatrixXd z = lay.W(t, l) * acts.back();
    z.colwise() += lay.b(t, l);
    if (l + 1 < L)
      acts.emplace_back(z.array().tanh());
    else
      out = std::move(z);
  }
  const double inv = 1.0 / static_cast<double>(x.cols());
  const Eigen::RowVectorXd r = out.row(0) - y.transpose();
  const double value = 0.5 * inv * r.squaredNorm();
  if (g == nullptr) return value;
  g->resize(dim_);
  MatrixXd dz = inv * r;  // 1 x batch
  for (std::size_t l = L; l-- > 0;) {
    Map<MatrixXd>(g->data() + w_off_[l], widths_[l + 1], widths_[l]) = dz * acts[l].transpose();
    Map<Eigen::VectorXd>(g->data() + b_off_[l], widths_[l + 1]) = dz.rowwise().sum();
    if (l > 0) {
      MatrixXd da = lay.W(t, l).transpose() * dz;
      dz = da.array() * (1.0 - acts[l].array().square());
    }
  }
  return value;
}

double Mlp::loss(const Eigen::VectorXd& t) const {
  return loss_and_grad(t, data_.x_train, data_.y_train, nullptr);
}

double Mlp::metric(const Eigen::VectorXd& t) const {
  return 2.0 * loss_and_grad(t, data_.x_test, data_.y_test, nullptr);
}

void Mlp::gradient(const Eigen::VectorXd& t, std::int64_t batch, BatchStream& s,
                   Eigen::VectorXd& g) const {
  s.next_batch(data_.y_train.size(), batch, idx_);
  gather(data_.x_train, data_.y_train, idx_, xb_, yb_);
  loss_and_grad(t, xb_, yb_, &g);
}

void Mlp::full_gradient(const Eigen::VectorXd& t, Eigen::VectorXd& g) const {
  loss_and_grad(t, data_.x_train, data_.y_train, &g);
}

Eigen::VectorXd Mlp::curvature_diagonal() const {
  throw optim::ConfigError("optimizer = precond, landscape.kind = mlp: no curvature diagonal "
                           "for the mlp (use linreg, logreg or nqm)");
}

}  // namespace batchlab::sim
