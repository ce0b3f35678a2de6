// Lanczos, stochastic Lanczos quadrature and Hutchinson (optim/lanczos.h) on symmetric matrices
// whose spectrum is planted: A = Q diag(lambda) Q' with a random orthogonal Q, so the truth
// (eigenvalues, eigenvectors, density, trace, moments) is known exactly.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "optim/lanczos.h"

using namespace batchlab::optim;

namespace {

Eigen::MatrixXd random_orthogonal(Eigen::Index n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Eigen::MatrixXd g(n, n);
  for (Eigen::Index j = 0; j < n; ++j)
    for (Eigen::Index i = 0; i < n; ++i) g(i, j) = normal(rng);
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(g);
  return qr.householderQ() * Eigen::MatrixXd::Identity(n, n);
}

struct Planted {
  Eigen::VectorXd lambda;
  Eigen::MatrixXd q, a;
  SymmetricOperator op() const {
    return [m = a](const Eigen::VectorXd& x) { Eigen::VectorXd y = m * x; return y; };
  }
};

Planted planted(const Eigen::VectorXd& lambda, std::uint64_t seed) {
  Planted p;
  p.lambda = lambda;
  p.q = random_orthogonal(lambda.size(), seed);
  p.a = p.q * lambda.asDiagonal() * p.q.transpose();
  p.a = 0.5 * (p.a + p.a.transpose());
  return p;
}

// Ten separated outliers over a power-law bulk i^-1 on (0, 1] and a few negative eigenvalues,
// the shape of a network Hessian (Papyan 2019; Ghorbani et al. 2019).
Eigen::VectorXd outliers_over_bulk(Eigen::Index n) {
  Eigen::VectorXd l(n);
  const double top[] = {120.0, 64.0, 40.0, 25.0, 17.0, 12.0, 9.0, 7.0, 5.5, 4.0};
  for (Eigen::Index i = 0; i < n; ++i) l[i] = i < 10 ? top[i] : 1.0 / static_cast<double>(i - 9);
  for (Eigen::Index i = n - 5; i < n; ++i) l[i] = -0.3 * static_cast<double>(n - i);
  return l;
}

}  // namespace

TEST(Lanczos, RecoversPlantedTopEigenvaluesToOneInAMillion) {
  const Planted p = planted(outliers_over_bulk(400), 7);
  TopEigenOptions o;
  o.k = 10;
  o.max_steps = 150;
  o.tol = 1e-10;
  const TopEigenpairs top = top_eigenpairs(p.op(), 400, o);
  ASSERT_EQ(top.values.size(), 10);
  EXPECT_TRUE(top.converged);
  for (int i = 0; i < 10; ++i) {
    EXPECT_NEAR(top.values[i], p.lambda[i], 1e-6 * p.lambda[i]) << "eigenvalue " << i;
    // The eigenvector (up to sign) is the planted column of Q.
    EXPECT_GT(std::abs(top.vectors.col(i).dot(p.q.col(i))), 1.0 - 1e-6) << "eigenvector " << i;
    // The reported residual is the true one.
    const double res = (p.a * top.vectors.col(i) - top.values[i] * top.vectors.col(i)).norm();
    EXPECT_NEAR(res, top.residuals[i], 1e-9 * p.lambda[0]);
  }
  EXPECT_LT(top.steps, 150) << "stopped as soon as the top 10 converged";
}

TEST(Lanczos, RecoversZhangSpectrumTopOnALargeDiagonalOperator) {
  const Eigen::Index n = 20000;
  Eigen::VectorXd h(n);
  for (Eigen::Index i = 0; i < n; ++i) h[i] = 1.0 / static_cast<double>(i + 1);
  const SymmetricOperator diag = [&](const Eigen::VectorXd& x) {
    Eigen::VectorXd y = h.cwiseProduct(x);
    return y;
  };
  TopEigenOptions o;
  o.k = 5;
  o.max_steps = 200;
  o.tol = 1e-9;
  const TopEigenpairs top = top_eigenpairs(diag, n, o);
  EXPECT_TRUE(top.converged);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(top.values[i], h[i], 1e-6 * h[i]);
}

TEST(Lanczos, SmallOperatorEndsOnAnInvariantSubspaceWithExactEigenvalues) {
  Eigen::VectorXd l(6);
  l << 5, 3, 2, 1, -1, -4;
  const Planted p = planted(l, 3);
  const LanczosRun run = lanczos(p.op(), rademacher(6, 1), 20, true, {});
  EXPECT_TRUE(run.invariant);
  const Ritz r = ritz(run);
  ASSERT_EQ(r.values.size(), 6);
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(r.values[5 - i], l[i], 1e-10);
}

TEST(Lanczos, BadArgumentsAreRefused) {
  const Planted p = planted(outliers_over_bulk(30), 1);
  TopEigenOptions o;
  o.k = 31;
  EXPECT_THROW(top_eigenpairs(p.op(), 30, o), std::invalid_argument);
  o.k = 0;
  EXPECT_THROW(top_eigenpairs(p.op(), 30, o), std::invalid_argument);
  o.k = 10;
  o.max_steps = 5;
  EXPECT_THROW(top_eigenpairs(p.op(), 30, o), std::invalid_argument);
  EXPECT_THROW(lanczos(p.op(), Eigen::VectorXd::Zero(30), 5, false, {}), std::invalid_argument);
}

TEST(Slq, GaussQuadratureReproducesEachProbesMomentsExactly) {
  // m nodes integrate q' A^p q exactly for p <= 2m - 1.
  const Planted p = planted(outliers_over_bulk(300), 11);
  const int m = 8;
  SlqOptions o;
  o.probes = 1;
  o.steps = m;
  o.seed = 42;
  const SpectralDensity d = stochastic_lanczos_quadrature(p.op(), 300, o);
  ASSERT_EQ(d.nodes.size(), static_cast<std::size_t>(m));
  Eigen::VectorXd q = rademacher(300, 42);
  q.normalize();
  Eigen::VectorXd apq = q;
  for (int power = 0; power <= 2 * m - 1; ++power) {
    const double exact = q.dot(apq);
    double quad = 0.0;
    for (std::size_t j = 0; j < d.nodes.size(); ++j) quad += d.weights[j] * std::pow(d.nodes[j], power);
    EXPECT_NEAR(quad, exact, 1e-9 * std::max(1.0, std::abs(exact))) << "moment " << power;
    apq = p.a * apq;
  }
  EXPECT_NEAR(d.quadratic_forms[0], rademacher(300, 42).dot(p.a * rademacher(300, 42)), 1e-8);
}

TEST(Slq, EstimatesThePlantedDensity) {
  // 70% of the eigenvalues uniform on [0, 1], 30% uniform on [2, 3], in a random basis.
  const Eigen::Index n = 1500;
  Eigen::VectorXd l(n);
  const Eigen::Index low = 1050;
  for (Eigen::Index i = 0; i < n; ++i)
    l[i] = i < low ? (i + 0.5) / static_cast<double>(low) : 2.0 + (i - low + 0.5) / static_cast<double>(n - low);
  const Planted p = planted(l, 5);
  SlqOptions o;
  o.probes = 10;
  o.steps = 40;
  const SpectralDensity d = stochastic_lanczos_quadrature(p.op(), n, o);
  double total = 0.0;
  for (double w : d.weights) total += w;
  EXPECT_NEAR(total, 1.0, 1e-12);
  auto cdf = [&](double x) {
    double s = 0.0;
    for (std::size_t j = 0; j < d.nodes.size(); ++j)
      if (d.nodes[j] <= x) s += d.weights[j];
    return s;
  };
  EXPECT_NEAR(cdf(-0.01), 0.0, 1e-9);
  EXPECT_NEAR(cdf(0.5), 0.35, 0.04);
  EXPECT_NEAR(cdf(1.5), 0.70, 0.02);  // in the gap: every node on its side
  EXPECT_NEAR(cdf(2.5), 0.85, 0.04);
  EXPECT_NEAR(cdf(3.01), 1.0, 1e-9);
  // Smoothed density inside each block (0.7 and 0.3 per unit length) and in the gap.
  EXPECT_NEAR(density_at(d, 0.5, 0.1), 0.7, 0.12);
  EXPECT_NEAR(density_at(d, 2.5, 0.1), 0.3, 0.08);
  EXPECT_LT(density_at(d, 1.5, 0.1), 0.01);
}

TEST(Slq, DeflationLeavesTheBulkBeyondTheTopK) {
  const Eigen::Index n = 400;
  const Planted p = planted(outliers_over_bulk(n), 9);
  const Eigen::MatrixXd v = p.q.leftCols(10);
  SlqOptions o;
  o.probes = 6;
  o.steps = 30;
  const SpectralDensity d = stochastic_lanczos_quadrature(deflated(p.op(), v), n, o, v);
  for (double x : d.nodes) EXPECT_LT(x, 1.0 + 1e-8) << "no outlier survives deflation";
  // Each probe's quadratic form is Hutchinson on P A P: mean ~ tr(A) - sum of the top 10, within
  // 4 standard errors (Var z' B z <= 2 |B|_F^2 for Rademacher z, B = P A P).
  const double bulk_trace = p.lambda.sum() - p.lambda.head(10).sum();
  const double bulk_frob = p.lambda.tail(n - 10).squaredNorm();
  double mean = 0.0;
  for (double q : d.quadratic_forms) mean += q / d.quadratic_forms.size();
  EXPECT_NEAR(mean, bulk_trace, 4.0 * std::sqrt(2.0 * bulk_frob / o.probes));
  for (double s : d.probe_sq_norms) EXPECT_NEAR(s, n - 10, 0.1 * n);
}

TEST(Hutchinson, ExactOnADiagonalAndWithinItsErrorOnADenseMatrix) {
  Eigen::VectorXd h(50);
  for (int i = 0; i < 50; ++i) h[i] = 1.0 / (i + 1.0);
  const SymmetricOperator diag = [&](const Eigen::VectorXd& x) {
    Eigen::VectorXd y = h.cwiseProduct(x);
    return y;
  };
  const TraceEstimate td = hutchinson_trace(diag, 50, 3, 0);
  EXPECT_NEAR(td.mean, h.sum(), 1e-12);  // z_i^2 = 1: no variance on a diagonal
  EXPECT_NEAR(td.std_error, 0.0, 1e-12);

  const Planted p = planted(outliers_over_bulk(200), 2);
  const TraceEstimate t = hutchinson_trace(p.op(), 200, 64, 1);
  EXPECT_GT(t.std_error, 0.0);
  EXPECT_NEAR(t.mean, p.lambda.sum(), 4.0 * t.std_error);
  // The estimator's standard error matches its known variance 2 sum_{i!=j} A_ij^2.
  const double off = p.a.squaredNorm() - p.a.diagonal().squaredNorm();
  EXPECT_NEAR(t.std_error, std::sqrt(2.0 * off / 64.0), 0.35 * std::sqrt(2.0 * off / 64.0));
}

TEST(Slq, ExhaustingADeflatedComplementLeavesNoGhostAtZero) {
  // 12 dimensions, 4 deflated, 12 steps asked: the Krylov space of P A P is the 8-dimensional
  // complement, so the run must end there with its 8 eigenvalues, and no node from span(V) (the
  // operator's rounding along V, if not removed each step, grows by ~alpha / beta per step).
  Eigen::VectorXd l(12);
  for (int i = 0; i < 12; ++i) l[i] = 1.0 / (i + 1.0);
  const Planted p = planted(l, 4);
  const Eigen::MatrixXd v = p.q.leftCols(4);
  SlqOptions o;
  o.probes = 3;
  o.steps = 12;
  const SpectralDensity d = stochastic_lanczos_quadrature(deflated(p.op(), v), 12, o, v);
  ASSERT_EQ(d.nodes.size(), 3u * 8u);
  for (double x : d.nodes) {
    double closest = 1e300;
    for (int i = 4; i < 12; ++i) closest = std::min(closest, std::abs(x - l[i]));
    EXPECT_LT(closest, 1e-12) << "node " << x;
  }
}
