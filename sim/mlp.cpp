#include "sim/mlp.h"

#include <algorithm>
#include <random>
#include <stdexcept>

#include "optim/config.h"
#include "sim/mlp_kernels.h"

namespace batchlab::sim {

Mlp::Mlp(const LandscapeConfig& cfg) {
  widths_.push_back(cfg.input_dim);
  for (auto h : cfg.hidden) widths_.push_back(h);
  widths_.push_back(1);
  std::int64_t max_w_size = 0;
  for (std::size_t l = 0; l + 1 < widths_.size(); ++l) {
    // Names built by append: GCC 12 flags "W" + std::to_string(...) with a false -Wrestrict.
    std::string wname = "W", bname = "b";
    wname.append(std::to_string(l + 1));
    bname.append(std::to_string(l + 1));
    w_off_.push_back(dim_);
    // W is stored column-major out x in (mlp_kernels), i.e. row-major in x out.
    groups_.push_back({wname, dim_, widths_[l + 1] * widths_[l], false, {widths_[l], widths_[l + 1]}});
    dim_ += widths_[l + 1] * widths_[l];
    b_off_.push_back(dim_);
    groups_.push_back({bname, dim_, widths_[l + 1], true});
    dim_ += widths_[l + 1];
    max_width_ = std::max({max_width_, widths_[l], widths_[l + 1]});
    max_w_size = std::max(max_w_size, widths_[l + 1] * widths_[l]);
  }
  wt_.resize(static_cast<std::size_t>(max_w_size));
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

void Mlp::reserve(std::int64_t n) const {
  if (n <= capacity_) return;
  capacity_ = n;
  const std::size_t L = widths_.size() - 1;
  acts_.resize(L);
  for (std::size_t l = 0; l < L; ++l) acts_[l].resize(static_cast<std::size_t>(widths_[l + 1] * n));
  const auto wide = static_cast<std::size_t>(max_width_ * n);
  xb_.resize(static_cast<std::size_t>(widths_[0] * n));
  yb_.resize(static_cast<std::size_t>(n));
  delta_.resize(wide);
  da_.resize(wide);
}

void Mlp::forward_into(const double* t, const double* x, std::int64_t n) const {
  const std::size_t L = widths_.size() - 1;
  const double* a = x;
  for (std::size_t l = 0; l < L; ++l) {
    const std::int64_t no = widths_[l + 1], ni = widths_[l];
    double* z = acts_[l].data();
    mlpk::gemm_nn(no, n, ni, t + w_off_[l], no, a, ni, z, no, t + b_off_[l]);  // z = W a + b
    if (l + 1 < L) mlpk::tanh_inplace(no * n, z);
    a = z;
  }
}

double Mlp::sum_squared_residuals(const double* y, std::int64_t n) const {
  const double* f = acts_.back().data();
  double s = 0.0;
  for (std::int64_t j = 0; j < n; ++j) s += (f[j] - y[j]) * (f[j] - y[j]);
  return s;
}

double Mlp::loss_and_grad(const double* t, const double* x, const double* y, std::int64_t n,
                          double* g) const {
  reserve(n);
  forward_into(t, x, n);
  const double inv = 1.0 / static_cast<double>(n);
  const double value = 0.5 * inv * sum_squared_residuals(y, n);
  if (g == nullptr) return value;
  const std::size_t L = widths_.size() - 1;
  double* dz = delta_.data();
  const double* f = acts_.back().data();
  for (std::int64_t j = 0; j < n; ++j) dz[j] = inv * (f[j] - y[j]);  // d z_{L}, 1 x n
  for (std::size_t l = L; l-- > 0;) {
    const std::int64_t no = widths_[l + 1], ni = widths_[l];
    const double* a = l == 0 ? x : acts_[l - 1].data();  // a_l: ni x n
    mlpk::gemm_nt(no, ni, n, dz, no, a, ni, g + w_off_[l], no);  // dW = dz a'
    double* db = g + b_off_[l];
    for (std::int64_t o = 0; o < no; ++o) db[o] = 0.0;
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t o = 0; o < no; ++o) db[o] += dz[o + j * no];
    if (l > 0) {
      // da = W' dz through the transposed copy W' (ni x no), then dz_{l-1} = da (1 - a^2).
      const double* w = t + w_off_[l];
      for (std::int64_t o = 0; o < no; ++o)
        for (std::int64_t i = 0; i < ni; ++i) wt_[static_cast<std::size_t>(i + o * ni)] = w[o + i * no];
      mlpk::gemm_nn(ni, n, no, wt_.data(), ni, dz, no, da_.data(), ni, nullptr);
      mlpk::tanh_backward(ni * n, da_.data(), a, dz);
    }
  }
  return value;
}

double Mlp::mean_half_sq(const Eigen::VectorXd& t, const Eigen::MatrixXd& x,
                         const Eigen::VectorXd& y) const {
  const std::int64_t n = x.cols();
  reserve(std::min(n, kChunk));
  double s = 0.0;
  for (std::int64_t j = 0; j < n; j += kChunk) {
    const std::int64_t c = std::min(kChunk, n - j);
    forward_into(t.data(), x.data() + j * x.rows(), c);
    s += sum_squared_residuals(y.data() + j, c);
  }
  return 0.5 * s / static_cast<double>(n);
}

Eigen::RowVectorXd Mlp::forward(const Eigen::VectorXd& t, const Eigen::MatrixXd& x) const {
  const std::int64_t n = x.cols();
  reserve(std::min(n, kChunk));
  Eigen::RowVectorXd f(n);
  for (std::int64_t j = 0; j < n; j += kChunk) {
    const std::int64_t c = std::min(kChunk, n - j);
    forward_into(t.data(), x.data() + j * x.rows(), c);
    std::copy_n(acts_.back().data(), c, f.data() + j);
  }
  return f;
}

double Mlp::loss(const Eigen::VectorXd& t) const { return mean_half_sq(t, data_.x_train, data_.y_train); }

double Mlp::metric(const Eigen::VectorXd& t) const { return 2.0 * mean_half_sq(t, data_.x_test, data_.y_test); }

void Mlp::gradient(const Eigen::VectorXd& t, std::int64_t batch, BatchStream& s,
                   Eigen::VectorXd& g) const {
  s.next_batch(data_.y_train.size(), batch, idx_);
  reserve(batch);
  // Gather the batch's columns (contiguous inputs of one example) and labels.
  const std::int64_t d = widths_[0];
  for (std::int64_t j = 0; j < batch; ++j) {
    const std::int64_t e = idx_[static_cast<std::size_t>(j)];
    const double* src = data_.x_train.data() + e * d;
    double* dst = xb_.data() + j * d;
    for (std::int64_t i = 0; i < d; ++i) dst[i] = src[i];  // a few doubles: no memmove call
    yb_[static_cast<std::size_t>(j)] = data_.y_train[e];
  }
  g.resize(dim_);
  loss_and_grad(t.data(), xb_.data(), yb_.data(), batch, g.data());
}

void Mlp::full_gradient(const Eigen::VectorXd& t, Eigen::VectorXd& g) const {
  g.resize(dim_);
  loss_and_grad(t.data(), data_.x_train.data(), data_.y_train.data(), data_.x_train.cols(), g.data());
}

Eigen::VectorXd Mlp::curvature_diagonal() const {
  throw optim::ConfigError("optimizer = precond, landscape.kind = mlp: no curvature diagonal "
                           "for the mlp (use linreg, logreg or nqm)");
}

}  // namespace batchlab::sim
