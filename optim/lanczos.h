// Spectra of a symmetric operator known only through products y = A x (a Hessian-vector product,
// a dense test matrix): the top eigenpairs by Lanczos, the spectral density by stochastic
// Lanczos quadrature, the trace by Hutchinson's estimator. Written once over a callback, so the
// simulator's quadratics test it in double precision and realtrain plugs in LibTorch HVPs.
//
// Lanczos (Lanczos 1950; Golub & Van Loan, Matrix Computations, ch. 10). From q_1 = start / |start|,
//   w = A q_j - alpha_j q_j - beta_{j-1} q_{j-1},  alpha_j = q_j' A q_j,  beta_j = |w|,  q_{j+1} = w / beta_j
// builds an orthonormal basis Q_m of the Krylov space and T_m = Q_m' A Q_m, tridiagonal with
// alpha on the diagonal and beta beside it. Every new w is reorthogonalised twice against all of
// Q ("twice is enough", Giraud et al. 2005), so no ghost copies of converged eigenvalues appear
// and the Ritz values (eigenvalues theta_i of T_m) are true Rayleigh quotients. A Ritz pair
// (theta_i, Q_m s_i) has residual |A y - theta y| = beta_m |s_i(m)|, which is the convergence
// test (the eigenvalue error is at most that residual, and its square over the gap).
//
// Stochastic Lanczos quadrature (Golub & Meurant 1994; Ubaru, Chen & Saad 2017; Ghorbani,
// Krishnan & Xiao 2019 for neural-network Hessians). For a unit probe q, the m-point Gauss rule
// of the spectral measure mu_q = sum_i (u_i' q)^2 delta(lambda - lambda_i) has nodes theta_j
// (the Ritz values of m Lanczos steps from q) and weights tau_j = s_j(1)^2, and reproduces
// q' A^p q = sum_j tau_j theta_j^p exactly for p <= 2m - 1. With q = z / |z|, z Rademacher,
// E mu_q = (1/n) sum_i delta(lambda - lambda_i): averaging over probes estimates the density.
//
// Hutchinson (1990): for Rademacher z (entries +-1), E z' A z = tr(A) and
// Var z' A z = 2 sum_{i != j} A_ij^2 (zero for a diagonal A).
//
// Deflation: given orthonormal columns V (e.g. the top eigenvectors), P = I - V V' and the
// operator P A P act on the complement of span(V); a probe projected by P stays there, so SLQ and
// Hutchinson then describe the spectrum "beyond the top k" (dimension n - k).
//
// Memory: full reorthogonalisation keeps the basis, n x (steps + 1) doubles.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <vector>

namespace batchlab::optim {

// y = A x for a symmetric A; x and y have the operator's dimension.
using SymmetricOperator = std::function<Eigen::VectorXd(const Eigen::VectorXd& x)>;

// x - V (V' x): the component of x orthogonal to V's (orthonormal) columns.
Eigen::VectorXd project_out(const Eigen::MatrixXd& v, const Eigen::VectorXd& x);
// x -> P A P x with P = I - V V'. `v` is copied into the returned operator.
SymmetricOperator deflated(SymmetricOperator a, Eigen::MatrixXd v);

// n entries +-1, drawn from the seed (splitmix64 stream, identical on every platform).
Eigen::VectorXd rademacher(Eigen::Index n, std::uint64_t seed);

// Called after every Lanczos step with alpha and beta so far; true stops the run.
using LanczosStop = std::function<bool(const Eigen::VectorXd& alpha, const Eigen::VectorXd& beta)>;

// At most `steps` Lanczos steps from `start` (need not be normalised; must be non-zero). Stops
// early when beta_j falls below 1e-12 x the largest |alpha|, |beta| seen (an invariant subspace:
// the Ritz values are then exact eigenvalues) or when `stop` (may be empty) says so.
// `outside`: orthonormal columns the Krylov space must stay orthogonal to (a deflated operator's
// V), removed from every new vector with the reorthogonalisation. Without it, the rounding
// components along V that the operator leaves are divided by beta_j at each step and grow
// geometrically, until a ghost node at 0 appears once the complement is exhausted.
struct LanczosRun {
  Eigen::VectorXd alpha;   // diagonal of T, length m
  Eigen::VectorXd beta;    // beta_1 .. beta_m (beta_m couples to the next, unbuilt, vector)
  Eigen::MatrixXd basis;   // n x m (only if keep_basis)
  bool invariant = false;  // stopped on a (numerically) zero beta
};
LanczosRun lanczos(const SymmetricOperator& a, const Eigen::VectorXd& start, int steps, bool keep_basis,
                   const LanczosStop& stop, const Eigen::MatrixXd& outside = Eigen::MatrixXd());

// Eigen-decomposition of the tridiagonal T (alpha, beta[0 .. m-2]); values ascending.
struct Ritz {
  Eigen::VectorXd values;
  Eigen::MatrixXd vectors;  // columns: eigenvectors s_i of T
};
Ritz ritz(const LanczosRun& run);

struct TopEigenOptions {
  int k = 10;                // eigenpairs wanted (largest algebraic eigenvalues)
  int max_steps = 80;        // Lanczos steps at most (>= k; more when eigenvalues cluster)
  double tol = 1e-8;         // converged when residual <= tol x max(|theta_1|, tiny)
  int check_every = 5;       // steps between convergence checks
  std::uint64_t seed = 0;    // Rademacher start vector
};
struct TopEigenpairs {
  Eigen::VectorXd values;     // descending, length k
  Eigen::MatrixXd vectors;    // n x k, orthonormal columns
  Eigen::VectorXd residuals;  // |A v_i - theta_i v_i| (the Lanczos bound beta_m |s_i(m)|)
  int steps = 0;              // Lanczos steps (operator products) used
  bool converged = false;     // every residual within tol
};
// Throws std::invalid_argument when k < 1, k > n or max_steps < k.
TopEigenpairs top_eigenpairs(const SymmetricOperator& a, Eigen::Index n, const TopEigenOptions& options);

struct SlqOptions {
  int probes = 8;
  int steps = 40;            // Lanczos steps per probe = Gauss nodes per probe
  std::uint64_t seed = 0;    // probe r uses rademacher(n, seed + r) (then projected out of V)
};
// Density estimate sum_j weight_j delta(lambda - node_j), weights summing to 1 over all probes
// (each probe's weights sum to 1 / probes). Multiply by the dimension of the space (n, or n - k
// with deflation) for eigenvalue counts.
struct SpectralDensity {
  std::vector<double> nodes, weights;
  std::vector<int> probe;                 // which probe each node came from
  std::vector<double> quadratic_forms;    // per probe: z' A z of its (projected) probe (Hutchinson)
  std::vector<double> probe_sq_norms;     // per probe: |z|^2 (n, or ~ n - k after projection)
  int operator_products = 0;
};
// deflate: orthonormal columns V to project the probes out of (0 columns: none); `a` should
// then be deflated(A, V). Throws std::invalid_argument when probes < 1 or steps < 1.
SpectralDensity stochastic_lanczos_quadrature(const SymmetricOperator& a, Eigen::Index n,
                                              const SlqOptions& options,
                                              const Eigen::MatrixXd& deflate = Eigen::MatrixXd());

// The smoothed density of an SLQ estimate at x: sum_j w_j N(x; node_j, sigma^2).
double density_at(const SpectralDensity& d, double x, double sigma);

struct TraceEstimate {
  double mean = 0.0;     // estimate of tr(A)
  double std_error = 0.0;  // standard error of the mean over probes (0 for one probe)
  std::vector<double> samples;
};
// Hutchinson with `probes` Rademacher vectors rademacher(n, seed + r). Throws for probes < 1.
TraceEstimate hutchinson_trace(const SymmetricOperator& a, Eigen::Index n, int probes, std::uint64_t seed);

}  // namespace batchlab::optim
