#include "optim/lanczos.h"

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

#include "optim/splitmix64.h"

namespace batchlab::optim {

Eigen::VectorXd project_out(const Eigen::MatrixXd& v, const Eigen::VectorXd& x) {
  if (v.cols() == 0) return x;
  return x - v * (v.transpose() * x);
}

SymmetricOperator deflated(SymmetricOperator a, Eigen::MatrixXd v) {
  return [a = std::move(a), v = std::move(v)](const Eigen::VectorXd& x) {
    return project_out(v, a(project_out(v, x)));
  };
}

Eigen::VectorXd rademacher(Eigen::Index n, std::uint64_t seed) {
  Eigen::VectorXd z(n);
  std::uint64_t state = splitmix64(seed ^ 0x5bd1e995ULL);
  for (Eigen::Index i = 0; i < n; i += 64) {
    state = splitmix64(state);
    for (Eigen::Index b = 0; b < 64 && i + b < n; ++b) z[i + b] = ((state >> b) & 1U) ? 1.0 : -1.0;
  }
  return z;
}

LanczosRun lanczos(const SymmetricOperator& a, const Eigen::VectorXd& start, int steps, bool keep_basis,
                   const LanczosStop& stop, const Eigen::MatrixXd& outside) {
  const Eigen::Index n = start.size();
  const double norm0 = start.norm();
  if (!(norm0 > 0.0) || !std::isfinite(norm0)) throw std::invalid_argument("lanczos: start vector is zero or not finite");
  steps = static_cast<int>(std::min<Eigen::Index>(steps, n));
  // The basis is kept in any case (full reorthogonalisation needs it); keep_basis only decides
  // whether it is returned.
  Eigen::MatrixXd q(n, steps);
  q.col(0) = start / norm0;
  LanczosRun run;
  run.alpha.resize(steps);
  run.beta.resize(steps);
  double scale = 0.0;
  int done = 0;
  for (int j = 0; j < steps; ++j) {
    Eigen::VectorXd w = a(q.col(j));
    if (w.size() != n) throw std::invalid_argument("lanczos: operator returned a vector of the wrong size");
    run.alpha[j] = q.col(j).dot(w);
    w -= run.alpha[j] * q.col(j);
    if (j > 0) w -= run.beta[j - 1] * q.col(j - 1);
    for (int pass = 0; pass < 2; ++pass) {
      w -= q.leftCols(j + 1) * (q.leftCols(j + 1).transpose() * w);
      if (outside.cols() > 0) w -= outside * (outside.transpose() * w);
    }
    run.beta[j] = w.norm();
    scale = std::max({scale, std::abs(run.alpha[j]), run.beta[j]});
    done = j + 1;
    if (!std::isfinite(run.beta[j])) throw std::runtime_error("lanczos: the operator produced a non-finite value");
    if (run.beta[j] <= 1e-12 * scale) {
      run.invariant = true;
      break;
    }
    if (stop && stop(run.alpha.head(done), run.beta.head(done))) break;
    if (j + 1 < steps) q.col(j + 1) = w / run.beta[j];
  }
  run.alpha.conservativeResize(done);
  run.beta.conservativeResize(done);
  if (keep_basis) run.basis = q.leftCols(done);
  return run;
}

Ritz ritz(const LanczosRun& run) {
  const Eigen::Index m = run.alpha.size();
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es;
  Eigen::VectorXd sub = m > 1 ? Eigen::VectorXd(run.beta.head(m - 1)) : Eigen::VectorXd();
  es.computeFromTridiagonal(run.alpha, sub, Eigen::ComputeEigenvectors);
  if (es.info() != Eigen::Success) throw std::runtime_error("lanczos: tridiagonal eigensolver failed");
  return {es.eigenvalues(), es.eigenvectors()};
}

namespace {

// Ritz residuals of the largest k pairs of `run`, largest eigenvalue first.
Eigen::VectorXd top_residuals(const LanczosRun& run, const Ritz& r, int k) {
  const Eigen::Index m = r.values.size();
  const double last_beta = run.invariant ? 0.0 : run.beta[m - 1];
  Eigen::VectorXd res(k);
  for (int i = 0; i < k; ++i) res[i] = std::abs(last_beta * r.vectors(m - 1, m - 1 - i));
  return res;
}

}  // namespace

TopEigenpairs top_eigenpairs(const SymmetricOperator& a, Eigen::Index n, const TopEigenOptions& o) {
  if (o.k < 1 || o.k > n)
    throw std::invalid_argument("top_eigenpairs: k = " + std::to_string(o.k) + " must be in [1, " + std::to_string(n) + "]");
  if (o.max_steps < o.k)
    throw std::invalid_argument("top_eigenpairs: max_steps = " + std::to_string(o.max_steps) + " < k = " + std::to_string(o.k));
  // The convergence check runs inside the Lanczos loop every check_every steps (from step k on),
  // so no operator product is spent after the top k have converged.
  auto converged = [&](const LanczosRun& r, const Ritz& z) {
    if (z.values.size() < o.k) return false;
    const double scale = std::max(std::abs(z.values[z.values.size() - 1]), 1e-300);
    return (top_residuals(r, z, o.k).array() <= o.tol * scale).all();
  };
  const LanczosStop stop = [&](const Eigen::VectorXd& alpha, const Eigen::VectorXd& beta) {
    const auto m = alpha.size();
    if (m < o.k || (m - o.k) % std::max(1, o.check_every) != 0) return false;
    LanczosRun r;
    r.alpha = alpha;
    r.beta = beta;
    return converged(r, ritz(r));
  };
  const LanczosRun run = lanczos(a, rademacher(n, o.seed), o.max_steps, /*keep_basis=*/true, stop);
  const Ritz z = ritz(run);
  const int k = std::min<int>(o.k, static_cast<int>(z.values.size()));
  TopEigenpairs out;
  out.values.resize(k);
  out.vectors.resize(n, k);
  for (int i = 0; i < k; ++i) {
    const Eigen::Index col = z.values.size() - 1 - i;
    out.values[i] = z.values[col];
    out.vectors.col(i) = run.basis * z.vectors.col(col);
  }
  out.residuals = top_residuals(run, z, k);
  out.steps = static_cast<int>(run.alpha.size());
  out.converged = k == o.k && converged(run, z);
  return out;
}

SpectralDensity stochastic_lanczos_quadrature(const SymmetricOperator& a, Eigen::Index n, const SlqOptions& o,
                                              const Eigen::MatrixXd& deflate) {
  if (o.probes < 1 || o.steps < 1)
    throw std::invalid_argument("stochastic_lanczos_quadrature: probes and steps must be >= 1");
  SpectralDensity d;
  for (int p = 0; p < o.probes; ++p) {
    const Eigen::VectorXd z = project_out(deflate, rademacher(n, o.seed + static_cast<std::uint64_t>(p)));
    const LanczosRun run = lanczos(a, z, o.steps, /*keep_basis=*/false, {}, deflate);
    d.operator_products += static_cast<int>(run.alpha.size());
    const Ritz r = ritz(run);
    for (Eigen::Index j = 0; j < r.values.size(); ++j) {
      const double tau = r.vectors(0, j) * r.vectors(0, j);
      d.nodes.push_back(r.values[j]);
      d.weights.push_back(tau / o.probes);
      d.probe.push_back(p);
    }
    d.probe_sq_norms.push_back(z.squaredNorm());
    d.quadratic_forms.push_back(z.squaredNorm() * run.alpha[0]);  // z' A z = |z|^2 q1' A q1
  }
  return d;
}

double density_at(const SpectralDensity& d, double x, double sigma) {
  double s = 0.0;
  const double norm = 1.0 / (sigma * std::sqrt(2.0 * std::numbers::pi));
  for (std::size_t j = 0; j < d.nodes.size(); ++j) {
    const double u = (x - d.nodes[j]) / sigma;
    s += d.weights[j] * norm * std::exp(-0.5 * u * u);
  }
  return s;
}

TraceEstimate hutchinson_trace(const SymmetricOperator& a, Eigen::Index n, int probes, std::uint64_t seed) {
  if (probes < 1) throw std::invalid_argument("hutchinson_trace: probes must be >= 1");
  TraceEstimate t;
  for (int p = 0; p < probes; ++p) {
    const Eigen::VectorXd z = rademacher(n, seed + static_cast<std::uint64_t>(p));
    t.samples.push_back(z.dot(a(z)));
  }
  double sum = 0.0;
  for (double s : t.samples) sum += s;
  t.mean = sum / probes;
  if (probes > 1) {
    double ss = 0.0;
    for (double s : t.samples) ss += (s - t.mean) * (s - t.mean);
    t.std_error = std::sqrt(ss / (probes - 1) / probes);
  }
  return t;
}

}  // namespace batchlab::optim
