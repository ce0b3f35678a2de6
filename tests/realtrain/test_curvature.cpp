// The curvature measurement of `batchlab calibrate` (realtrain/curvature.h), LibTorch products
// through optim/lanczos.h, against closed forms: linear and logistic regression on the
// simulator's finite-sum inputs (sim/finite_sum.h) with the simulator's losses, where
//   linreg: H = X'X / N,                 g_e = (x_e' theta - y_e) x_e
//   logreg: H = X' diag(p (1 - p)) X / N, g_e = (p_e - y_e) x_e,  p = sigmoid(X theta)
// (x_e with a trailing 1 for the bias) and Sigma is the sample covariance of the g_e. Double
// precision, so Lanczos must match the exact eigenvalues as on any planted quadratic. Then the
// real models' Hessian-vector products (double backward through ReLU / linear / conv / pool)
// against finite differences of their gradients.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "realtrain/curvature.h"
#include "realtrain/models.h"
#include "sim/finite_sum.h"
#include "sim/rng.h"

namespace {

using namespace batchlab;
using realtrain::CurvatureMeasurement;
using realtrain::CurvatureOptions;
using realtrain::LossOnExamples;

struct Problem {
  Eigen::MatrixXd x;  // N x (d + 1), last column 1
  Eigen::VectorXd y, theta;
  bool logistic = false;
};

Problem make_problem(bool logistic) {
  sim::LandscapeConfig cfg;
  cfg.input_dim = 11;
  cfg.train_examples = 700;
  cfg.test_examples = 1;
  sim::Rng rng = sim::make_rng(3, sim::kDataStream);
  const sim::FiniteSumData d = sim::draw_inputs(cfg, rng);
  Problem p;
  p.logistic = logistic;
  const auto n = cfg.train_examples, din = cfg.input_dim;
  p.x.resize(n, din + 1);
  p.x.leftCols(din) = d.x_train.transpose();
  p.x.col(din).setOnes();
  std::normal_distribution<double> normal;
  Eigen::VectorXd teacher(din + 1);
  for (auto& v : teacher) v = normal(rng);
  p.y = p.x * teacher;
  for (auto& v : p.y) v = logistic ? (v > 0.0 ? 1.0 : 0.0) : v + 0.3 * normal(rng);
  p.theta.resize(din + 1);
  for (auto& v : p.theta) v = 0.5 * normal(rng);
  return p;
}

Eigen::ArrayXd sigmoid(const Eigen::VectorXd& z) { return 1.0 / (1.0 + (-z.array()).exp()); }

struct Truth {
  Eigen::MatrixXd h, sigma, grads;  // grads: N x n
  Eigen::VectorXd g;
};
Truth truth(const Problem& p) {
  const Eigen::VectorXd z = p.x * p.theta;
  const Eigen::ArrayXd r = p.logistic ? Eigen::ArrayXd(sigmoid(z) - p.y.array()) : Eigen::ArrayXd(z - p.y);
  const Eigen::ArrayXd curv = p.logistic ? Eigen::ArrayXd(sigmoid(z) * (1.0 - sigmoid(z))) : Eigen::ArrayXd::Ones(z.size());
  const double n = static_cast<double>(p.x.rows());
  Truth t;
  t.h = p.x.transpose() * curv.matrix().asDiagonal() * p.x / n;
  t.grads = r.matrix().asDiagonal() * p.x;
  t.g = t.grads.colwise().mean();
  const Eigen::MatrixXd centred = t.grads.rowwise() - t.g.transpose();
  t.sigma = centred.transpose() * centred / (n - 1.0);
  return t;
}

struct Torch {
  std::vector<torch::Tensor> params;
  realtrain::ExampleTensors data;
};
Torch torch_problem(const Problem& p) {
  const auto opts = torch::TensorOptions().dtype(torch::kDouble);
  Torch t;
  const Eigen::Index d = p.x.cols() - 1;
  t.params = {torch::empty({d}, opts), torch::empty({1}, opts)};
  for (Eigen::Index i = 0; i < d; ++i) t.params[0][i] = p.theta[i];
  t.params[1][0] = p.theta[d];
  for (auto& q : t.params) q.requires_grad_(true);
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> xr = p.x.leftCols(d);
  t.data.x = torch::from_blob(xr.data(), {xr.rows(), d}, opts).clone();
  t.data.y = torch::from_blob(const_cast<double*>(p.y.data()), {p.y.size()}, opts).clone();
  return t;
}

LossOnExamples::LossFn loss_fn(const std::vector<torch::Tensor>& params, bool logistic) {
  return [params, logistic](const torch::Tensor& x, const torch::Tensor& y) {
    const torch::Tensor z = torch::mv(x, params[0]) + params[1];
    if (logistic) return torch::nn::functional::softplus(-(2.0 * y - 1.0) * z).mean();  // sim/logreg.h
    return 0.5 * (z - y).pow(2).mean();                                                  // sim/linreg.h
  };
}

void check_against_closed_form(bool logistic) {
  const Problem p = make_problem(logistic);
  const Truth t = truth(p);
  const Torch tp = torch_problem(p);
  // Chunks of 128 (uneven last chunk) and a noise set equal to the whole data.
  const LossOnExamples set(tp.params, loss_fn(tp.params, logistic), tp.data, 128);
  CurvatureOptions o;
  o.top_k = 4;
  o.lanczos_max_steps = 12;
  o.lanczos_tol = 1e-10;
  o.slq_probes = 3;
  o.slq_steps = 12;
  o.trace_probes = 6;
  o.dataset_size = p.x.rows();
  const CurvatureMeasurement m = realtrain::measure_curvature(set, set, o);

  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(t.h);
  const Eigen::Index n = t.h.rows();
  ASSERT_EQ(m.parameters, n);
  ASSERT_EQ(m.top_h.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    const double exact = es.eigenvalues()[n - 1 - i];
    EXPECT_NEAR(m.top_h[static_cast<std::size_t>(i)], exact, 1e-8 * exact) << "h_" << i;
    const Eigen::VectorXd v = es.eigenvectors().col(n - 1 - i);
    const double c = v.dot(t.sigma * v);
    EXPECT_NEAR(m.top_c[static_cast<std::size_t>(i)], c, 1e-7 * c) << "c_" << i;
  }
  // SLQ of the deflated Hessian: 12 steps exhaust the 8-dimensional complement, so its nodes are
  // exactly the remaining eigenvalues.
  for (double node : m.slq_nodes) {
    double closest = 1e300;
    for (Eigen::Index j = 0; j < n - 4; ++j) closest = std::min(closest, std::abs(node - es.eigenvalues()[j]));
    EXPECT_LT(closest, 1e-8 * es.eigenvalues()[n - 1]) << "node " << node;
  }
  EXPECT_NEAR(m.trace_sigma, t.sigma.trace(), 1e-10 * t.sigma.trace());
  EXPECT_NEAR(m.tail_trace_sigma, t.sigma.trace() - (m.top_c[0] + m.top_c[1] + m.top_c[2] + m.top_c[3]), 1e-9);
  EXPECT_NEAR(m.trace_h, t.h.trace(), 4.0 * m.tail_trace_h_stderr + 1e-9);
  const double ths = (t.h * t.sigma).trace();
  EXPECT_NEAR(m.trace_h_sigma, ths, 4.0 * m.tail_trace_h_sigma_stderr + 1e-9 * ths);
  // The whole data set is the subset: no finite-sample correction, exact |G|^2 and G'HG.
  EXPECT_NEAR(m.grad_sq, t.g.squaredNorm(), 1e-10 * t.g.squaredNorm());
  EXPECT_NEAR(m.grad_h_grad, t.g.dot(t.h * t.g), 1e-10 * t.g.dot(t.h * t.g));
  EXPECT_NEAR(m.b_simple, t.sigma.trace() / t.g.squaredNorm(), 1e-9 * m.b_simple);
  EXPECT_EQ(m.per_example_gradients, p.x.rows());
  EXPECT_GT(m.hvps, m.lanczos_steps);
}

}  // namespace

TEST(Curvature, LinearRegressionMatchesClosedForms) { check_against_closed_form(false); }
TEST(Curvature, LogisticRegressionMatchesClosedForms) { check_against_closed_form(true); }

TEST(Curvature, SubsetGradientIsCorrectedForItsFiniteSampleBias) {
  // E |g_S|^2 = |G|^2 + (1/|S| - 1/N) tr(Sigma): the correction uses the measured tr(Sigma).
  const Problem p = make_problem(false);
  const Torch tp = torch_problem(p);
  const LossOnExamples sub(tp.params, loss_fn(tp.params, false), tp.data.head(200), 64);
  CurvatureOptions o;
  o.top_k = 2;
  o.lanczos_max_steps = 12;
  o.slq_probes = 1;
  o.slq_steps = 4;
  o.trace_probes = 2;
  o.dataset_size = 700;
  const CurvatureMeasurement m = realtrain::measure_curvature(sub, sub, o);
  EXPECT_NEAR(m.grad_sq, m.grad_sq_raw - (1.0 / 200 - 1.0 / 700) * m.trace_sigma, 1e-12);
  EXPECT_NEAR(m.grad_h_grad, m.grad_h_grad_raw - (1.0 / 200 - 1.0 / 700) * m.trace_h_sigma, 1e-12);
}

TEST(Curvature, TopKAboveTheParameterCountIsRefused) {
  const Problem p = make_problem(false);
  const Torch tp = torch_problem(p);
  const LossOnExamples set(tp.params, loss_fn(tp.params, false), tp.data, 128);
  CurvatureOptions o;
  o.top_k = 13;
  EXPECT_THROW(realtrain::measure_curvature(set, set, o), std::invalid_argument);
}

TEST(Curvature, RealModelsHessianVectorProductsMatchFiniteDifferences) {
  torch::manual_seed(0);
  for (const char* name : {"mlp:16-8", "simple-cnn"}) {
    realtrain::ModelSpec spec;
    spec.name = name;
    spec.height = spec.width = 8;
    auto model = realtrain::make_model(spec);
    model->to(torch::kDouble);
    std::vector<torch::Tensor> params = model->parameters();
    realtrain::ExampleTensors data{torch::randn({20, 1, 8, 8}, torch::kDouble), torch::randint(0, 10, {20}, torch::kLong)};
    const LossOnExamples set(params, [model](const torch::Tensor& x, const torch::Tensor& y) {
      return torch::nn::functional::cross_entropy(model->forward(x), y);
    }, data, 7);
    const torch::Tensor v = torch::randn({set.parameters()}, torch::kDouble);
    const torch::Tensor hv = set.hvp(v);
    // Central difference of the gradient along v. The step is small because ReLU and max-pool
    // make the loss piecewise smooth: a larger one crosses kinks (pooling windows whose maximum
    // changes), where the difference quotient is not the derivative.
    const double eps = 1e-7;
    const auto parts = set.unflatten(v);
    auto shift = [&](double s) {
      torch::NoGradGuard ng;
      for (std::size_t i = 0; i < params.size(); ++i) params[i].add_(parts[i], s);
    };
    shift(eps);
    const torch::Tensor gp = set.gradient();
    shift(-2.0 * eps);
    const torch::Tensor gm = set.gradient();
    shift(eps);
    const torch::Tensor fd = (gp - gm) / (2.0 * eps);
    EXPECT_LT((hv - fd).norm().item<double>(), 1e-6 * hv.norm().item<double>()) << name;
    // Symmetric, as a Hessian is.
    const torch::Tensor u = torch::randn({set.parameters()}, torch::kDouble);
    EXPECT_NEAR(u.dot(hv).item<double>(), v.dot(set.hvp(u)).item<double>(), 1e-10 * u.norm().item<double>() * hv.norm().item<double>()) << name;
    // Per-example gradients average to the gradient.
    const torch::Tensor rows = set.per_example_gradients(0, 20);
    EXPECT_LT((rows.mean(0) - set.gradient()).norm().item<double>(), 1e-12 * rows.norm().item<double>()) << name;
  }
}
