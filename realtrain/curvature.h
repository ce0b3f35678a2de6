// Curvature and gradient noise of a real network's training loss at one point (initialisation or
// a checkpoint), for `batchlab calibrate` (docs/calibration.md):
//
//   H      Hessian of the mean loss over a fixed subset of N_H training examples
//   Sigma  per-example gradient covariance, (1/(N_S - 1)) sum_e (g_e - g)(g_e - g)', over N_S examples
//   G      the mean gradient over the N_H examples
//
// What is measured, each by one numeric piece of optim/lanczos.h fed with LibTorch products:
//  * top-k eigenpairs (h_i, v_i) of H by Lanczos on Hessian-vector products (double backward:
//    H v = d/dtheta (dL/dtheta . v), chunked over the subset);
//  * the density of H beyond the top k by stochastic Lanczos quadrature on the deflated
//    operator P H P (P = I - V V'), with probes projected out of span(V);
//  * tr(H) = sum h_i + Hutchinson estimate of tr(P H P) on projected Rademacher probes z_r;
//  * c_i = v_i' Sigma v_i, tr(Sigma), and tr(H Sigma) = sum h_i c_i + tr(P H P Sigma), the last
//    by Hutchinson: E_z[(P H P z)' Sigma z] over the same probes (per-example gradients dotted
//    with z_r and P H P z_r);
//  * |G|^2 and G' H G with the finite-sample bias of the subset mean removed
//    (E|g_NH|^2 = |G|^2 + (1/N_H - 1/N) tr(Sigma) for a subset drawn without replacement from N),
//    B_simple = tr(Sigma) / |G|^2 and B_noise = tr(H Sigma) / (G' H G) (McCandlish et al. 2018).
// Work is counted (Hessian-vector products, per-example gradients) and timed per phase.
//
// The model's parameters may be float32 or float64; products are computed in that type and the
// Lanczos arithmetic (reorthogonalisation, tridiagonal eigenproblems) in double.
#pragma once

#include <torch/torch.h>

#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "realtrain/data/source.h"

namespace batchlab::realtrain {

// Examples as tensors, rows = examples: images x N x C x H x W (float32) and labels y N (int64)
// from load_examples, or whatever a loss function takes (tests: regression inputs and targets).
struct ExampleTensors {
  torch::Tensor x, y;
  std::int64_t size() const { return x.defined() ? x.size(0) : 0; }
  ExampleTensors head(std::int64_t n) const { return {x.narrow(0, 0, n), y.narrow(0, 0, n)}; }
};
// The examples `indices` of `source`, without augmentation (write_example(train = false)).
ExampleTensors load_examples(const data::ExampleSource& source, const std::vector<std::int64_t>& indices);
// A permutation of [0, n) from the seed (Fisher-Yates on a splitmix64 stream): the fixed subsets
// are its prefixes, so a larger subset contains every smaller one.
std::vector<std::int64_t> seeded_permutation(std::int64_t n, std::uint64_t seed);

// The mean training loss of a model on fixed examples, as a function of its parameters.
class LossOnExamples {
 public:
  // loss(x, y): the mean loss over the rows of a chunk (e.g. cross-entropy of model(x)).
  using LossFn = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& y)>;
  LossOnExamples(std::vector<torch::Tensor> params, LossFn loss, ExampleTensors examples,
                 std::int64_t chunk = 512);

  std::int64_t parameters() const { return n_; }
  std::int64_t examples() const { return data_.size(); }
  torch::ScalarType dtype() const { return params_.front().scalar_type(); }
  double loss() const;                          // mean over the examples
  torch::Tensor gradient() const;               // flat, mean over the examples
  torch::Tensor hvp(const torch::Tensor& v) const;  // flat H v (v flat, any float type)
  // Rows = per-example gradients of examples [begin, begin + count).
  torch::Tensor per_example_gradients(std::int64_t begin, std::int64_t count) const;
  std::int64_t hvp_count() const { return hvps_; }
  std::int64_t per_example_count() const { return per_example_; }

  torch::Tensor flatten(const std::vector<torch::Tensor>& parts) const;  // logical (row-major) order
  std::vector<torch::Tensor> unflatten(const torch::Tensor& flat) const;

 private:
  std::vector<torch::Tensor> params_;
  LossFn loss_;
  ExampleTensors data_;
  std::int64_t chunk_;
  std::int64_t n_ = 0;
  mutable std::int64_t hvps_ = 0, per_example_ = 0;
};

Eigen::VectorXd to_eigen(const torch::Tensor& t);
torch::Tensor from_eigen(const Eigen::VectorXd& v, torch::ScalarType dtype);

struct CurvatureOptions {
  int top_k = 20;
  int lanczos_max_steps = 100;
  double lanczos_tol = 1e-4;       // relative residual; float32 products bound it near 1e-6
  int slq_probes = 4;
  int slq_steps = 40;
  int trace_probes = 8;
  std::uint64_t seed = 0;
  std::int64_t dataset_size = 0;   // N, for the finite-population correction (0: none)
  // Called between phases and every few operator products with a one-line status.
  std::function<void(const std::string&)> progress;
};

struct CurvatureMeasurement {
  std::int64_t parameters = 0, hessian_examples = 0, noise_examples = 0;
  double loss = 0.0;                  // mean loss over the Hessian subset
  // Lanczos
  std::vector<double> top_h, top_residuals, top_c;
  std::vector<double> top_g;          // v_i' G (the subset's mean gradient, uncorrected)
  int lanczos_steps = 0;
  bool lanczos_converged = false;
  // SLQ of P H P (weights sum to 1 over the n - k dimensional complement)
  std::vector<double> slq_nodes, slq_weights;
  std::vector<int> slq_probe;
  // traces (Hutchinson parts with their standard errors)
  double trace_h = 0.0, tail_trace_h = 0.0, tail_trace_h_stderr = 0.0;
  double trace_sigma = 0.0, tail_trace_sigma = 0.0;
  double trace_h_sigma = 0.0, tail_trace_h_sigma = 0.0, tail_trace_h_sigma_stderr = 0.0;
  // gradient
  double grad_sq_raw = 0.0, grad_h_grad_raw = 0.0;  // of the subset mean, before the correction
  double grad_sq = 0.0, grad_h_grad = 0.0;          // bias-corrected (may be <= 0: then B is NaN)
  double b_simple = 0.0, b_noise = 0.0;
  // cost
  std::int64_t hvps = 0, per_example_gradients = 0;
  double lanczos_s = 0.0, slq_s = 0.0, trace_s = 0.0, noise_s = 0.0, gradient_s = 0.0, total_s = 0.0;
};

// Throws std::invalid_argument when top_k > parameters or the options are out of range.
CurvatureMeasurement measure_curvature(const LossOnExamples& hessian_set, const LossOnExamples& noise_set,
                                       const CurvatureOptions& options);

}  // namespace batchlab::realtrain
