// Teacher-student MLP regression (finite sum; see finite_sum.h for the inputs), forward and
// backward written by hand on preallocated column-major buffers (kernels: sim/mlp_kernels.h).
//
//   widths n_0 = input_dim, n_1..n_m = hidden, n_{m+1} = 1
//   a_0 = x,  z_l = W_l a_{l-1} + b_l,  a_l = tanh(z_l) (l <= m),  f(x) = z_{m+1}
//   teacher: the same architecture, W_l ~ N(0, 1/n_{l-1}), b_l ~ N(0, 0.01); y = f*(x) + label_noise N(0,1)
//   L = 1/(2n) sum_n (f(x_n) - y_n)^2
//   backward: d z_{m+1} = (f - y)/|batch|; dW_l = dz_l a_{l-1}'; db_l = sum over the batch of dz_l;
//             dz_{l-1} = (W_l' dz_l) * (1 - a_{l-1}^2)
// (the teacher-student setting of e.g. Saad & Solla 1995; Goldt et al. 2019). Metric: test MSE,
// mean (f(x) - y)^2 on the test set. The optimum loss is not known in closed form (the teacher
// reaches about label_noise^2 / 2). Groups per layer: "W<l>" and "b<l>" (biases excluded from
// weight decay and layer adaptation); W stored column-major. Student init: W_l ~ N(0, 1/n_{l-1}),
// b = 0. No curvature diagonal: precond is rejected for mlp.
//
// A step allocates nothing: activations, deltas and the transposed weights live in workspaces
// that grow to the largest batch seen (the landscape is owned by one trial, one thread). Losses
// over the full train / test sets run in chunks of kChunk examples; the squared residuals are
// summed in example order.
#pragma once

#include "sim/finite_sum.h"
#include "sim/landscape.h"

namespace batchlab::sim {

class Mlp final : public Landscape {
 public:
  explicit Mlp(const LandscapeConfig& cfg);
  std::int64_t dim() const override { return dim_; }
  const std::vector<Group>& groups() const override { return groups_; }
  Eigen::VectorXd initial_point(Rng& rng) const override;
  double loss(const Eigen::VectorXd& theta) const override;
  double metric(const Eigen::VectorXd& theta) const override;
  std::string metric_name() const override { return "test_mse"; }
  void gradient(const Eigen::VectorXd& theta, std::int64_t batch, BatchStream& stream,
                Eigen::VectorXd& g) const override;
  void full_gradient(const Eigen::VectorXd& theta, Eigen::VectorXd& g) const override;
  Eigen::VectorXd curvature_diagonal() const override;
  std::int64_t train_examples() const override { return data_.y_train.size(); }
  // The dataset (tests check against an independent implementation).
  const FiniteSumData& data() const { return data_; }
  // Network output on the columns of x (tests).
  Eigen::RowVectorXd forward(const Eigen::VectorXd& theta, const Eigen::MatrixXd& x) const;

 private:
  static constexpr std::int64_t kChunk = 256;
  // Forward pass on the n columns of x (input_dim x n, contiguous); the output row is the last
  // activation buffer. Keeps every layer's activations for the backward pass.
  void forward_into(const double* theta, const double* x, std::int64_t n) const;
  // Sum over the n columns of (f - y)^2 after forward_into.
  double sum_squared_residuals(const double* y, std::int64_t n) const;
  // Mean of 1/2 (f - y)^2 over the columns in one pass (n <= capacity), with its gradient.
  double loss_and_grad(const double* theta, const double* x, const double* y, std::int64_t n,
                       double* g) const;
  // Mean of 1/2 (f - y)^2 over all columns of x, chunk by chunk, no gradient.
  double mean_half_sq(const Eigen::VectorXd& theta, const Eigen::MatrixXd& x,
                      const Eigen::VectorXd& y) const;
  void reserve(std::int64_t n) const;
  std::vector<std::int64_t> widths_;
  std::vector<std::int64_t> w_off_, b_off_;
  std::int64_t dim_ = 0;
  std::int64_t max_width_ = 0;
  FiniteSumData data_;
  std::vector<Group> groups_;
  // Workspaces: acts_[l] = a_{l+1} (widths_[l+1] x capacity_; the last one is the output row),
  // xb_ / yb_ the gathered batch, delta_/da_ backward buffers, wt_ one transposed weight matrix.
  mutable std::int64_t capacity_ = 0;
  mutable std::vector<std::vector<double>> acts_;
  mutable std::vector<double> xb_, yb_, delta_, da_, wt_;
  mutable std::vector<std::int64_t> idx_;
};

}  // namespace batchlab::sim
