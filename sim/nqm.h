// Noisy quadratic model (Zhang, Li, Nado, Martens, Sachdeva, Dahl, Shallue, Grosse 2019), analytic mode.
//
//   L(theta) = 1/2 sum_i h_i theta_i^2,  g = H theta + eps,  Cov(eps) = C / B  (C diagonal, c_i)
//   h_i = i^-curvature_power, c_i = i^-noise_power, E[theta_0,i^2] = s0 = init_variance,
//   or any explicit (h_i, c_i, s0_i) per dimension (LandscapeConfig::spectrum).
//
// The analytic mode tracks E[L(t)] = 1/2 sum_i h_i E[theta_i(t)^2] exactly (t = updates taken).
// Optimizers: "sgd", "momentum" (heavy ball, PyTorch form v <- b v + g; theta <- theta - lr v),
// "precond" (P = H^-p: lr becomes lr h_i^-p in dimension i, noise preconditioned too; with or
// without momentum), "ema" (SGD or heavy ball, evaluated at the iterate EMA
// theta~ <- gamma theta~ + (1 - gamma) theta, theta~_0 = theta_0, gamma = TrialSpec::ema_decay).
//
// Step-by-step recursion (any lr schedule; q_i = P_i h_i, P_i = h_i^-p or 1, lr = lr_at(t)):
//   moments a = E theta^2, u = E v^2, x = E theta v, e = E theta~ theta, m = E theta~ v, b = E theta~^2
//   y  = E[theta v'] = b x + q a                      (b = momentum coefficient here)
//   u' = b^2 u + q^2 a + 2 b q x + P^2 c / B
//   a' = a - 2 lr y + lr^2 u'
//   x' = y - lr u'
//   z  = E[theta~ v'] = b m + q e;   w = E[theta~ theta'] = e - lr z
//   b' = g^2 b + 2 g (1-g) w + (1-g)^2 a';   e' = g w + (1-g) a';   m' = g z + (1-g) x'
// (g = gamma; independence of eps_t from the past removes every cross term with the new noise.)
//
// Closed forms for a constant lr ("fast paths"), with k = lr P h and sigma^2 = lr^2 P^2 c / B:
//  * SGD / precond: s(t) = s* + rho^t (s0 - s*), rho = (1 - k)^2, s* = sigma^2 / (k (2 - k)).
//  * Heavy ball (theta, w = lr v) evolves by M = [[1-k, -b], [k, b]] plus noise (-lr eps, lr eps).
//    Its impulse response f_j (f_0 = 1, f_1 = tau) obeys f_{j+2} = tau f_{j+1} - b f_j with
//    tau = 1 - k + b, and theta_t = p_t theta_0 - lr sum_s f_{t-1-s} eps_s with p_t = f_t - b f_{t-1}.
//    So E theta_t^2 = s0 p_t^2 + sigma^2 sum_{j<t} f_j^2, and the sum is
//    sum_{j<t} f_j^2 = Q11 - z_t' Q z_t,  z_t = (f_t, f_{t-1}),  Q = e1 e1' + A' Q A  (A the 2x2
//    companion of the recursion), which solves to
//      Q11 = (1+b) / ((1-b)((1+b)^2 - tau^2)),  Q12 = -b tau Q11 / (1+b),  Q22 = b^2 Q11.
//    (Steady state: 1/2 h sigma^2 Q11 = (1+b) lr c / (2B(1-b)(2+2b-k)), as in
//    docs/science.md#steady-states-and-stability.)
//  * SGD + EMA is the same two-root recursion with roots (gamma, 1-k): tau = gamma + 1 - k,
//    b = gamma (1-k), and the noise term multiplied by (1-gamma)^2 (derived in nqm_analytic.cpp).
//  f_t and p_t are read off powers of the 2x2 companion matrix A (tables of A^(2^j)), so
//  repeated or nearly repeated roots need no special case. Heavy ball + EMA has no fast path:
//  it runs the exact step-by-step recursion.
//
// Steps-to-target is the SMALLEST t with E[L(t)] < target, found without assuming monotonicity:
// write E[L(t)] = L* + D(t) + O(t) - N(t) with D >= 0 non-increasing (dimensions whose signal
// term decays monotonically: real roots in [0,1), or any single-root SGD dimension), O >= 0 (the
// rest, e.g. underdamped momentum) and N >= 0 non-increasing (the noise not yet accumulated: a tail
// of a sum of squares). On [a, b] E[L] >= L* + D(b) - N(a). Binary lifting over the tables gives
// a candidate t_c with E[L(t_c)] < target; then branch and bound over [0, t_c) prunes every
// interval whose lower bound is >= target and scans the remaining short intervals exactly, step
// by step. A dimension with real roots 0 <= l2 <= l1 < 1 whose deviation S p_t^2 - N tail_t is
// provably non-increasing goes into D whole: with p_t - p_{t+1} = (1-l1)(1-l2) f_t and
// p_t + p_{t+1} >= (1-l2)(1+l1) f_t, the one-step decrease f_t [S (1-l1)(1-l2)(p_t+p_{t+1}) - N f_t]
// is >= 0 for all t when S (1 - l1^2)(1 - l2)^2 >= N (for SGD: s0 >= s*). When every dimension
// is such, E[L] is monotone and the candidate is the answer directly; otherwise only the
// remaining dimensions' noise tails loosen the bound.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <vector>

#include "sim/trial.h"

namespace batchlab::sim {

// Per dimension: h_i > 0, c_i >= 0 and s0_i = E[theta_0,i^2] >= 0. The power-law landscape has
// s0_i = init_variance for every i; a calibrated one (nqm_calibration.h) may differ per
// dimension. Since the second moments evolve linearly in (s0_i, c_i), m identical dimensions
// (h, c, s0) contribute exactly what one dimension (h, m c, m s0) does: a dimension can stand for
// a group of eigen-directions.
struct NqmSpectrum {
  Eigen::ArrayXd h;   // curvatures h_i
  Eigen::ArrayXd c;   // per-example gradient noise variances c_i
  Eigen::ArrayXd s0;  // E[theta_0,i^2]
};
// cfg.spectrum when set, else the power laws of cfg.
NqmSpectrum nqm_spectrum(const LandscapeConfig& cfg);
// Throws optim::ConfigError naming landscape.spectrum unless h, c, s0 have dim entries, h > 0,
// c >= 0, s0 >= 0, all finite.
void validate_explicit_spectrum(const NqmSpectrum& sp, std::int64_t dim);

// Throws optim::ConfigError when the analytic mode cannot run `spec` exactly.
void validate_nqm_analytic(const TrialSpec& spec);

// True when spec's lr schedule is constant and a closed form exists (all but momentum + EMA).
bool nqm_has_fast_path(const TrialSpec& spec);

// E[L(t)] for t = 0..steps by the exact step-by-step recursion (any schedule).
std::vector<double> nqm_expected_loss_stepwise(const TrialSpec& spec, std::int64_t steps);
// The NQM as seen from step `steps` of spec (stepwise recursion, any lr and batch schedule): the
// same h and c, and s0_i = E[theta_i(steps)^2]. A trial on this spectrum continues spec's run
// exactly, because for sgd and precond (without momentum) E[theta^2] is the whole state; throws
// optim::ConfigError for momentum and EMA, whose velocity moments it would drop.
NqmSpectrum nqm_spectrum_at(const TrialSpec& spec, std::int64_t steps);
// E[L(t)] by the closed form (requires nqm_has_fast_path). +inf when unstable.
double nqm_expected_loss_closed(const TrialSpec& spec, std::int64_t t);
// lim E[L(t)] for a constant lr (+inf when unstable).
double nqm_steady_state_loss(const TrialSpec& spec);

// The analytic trial. force_stepwise: ignore the fast path (tests compare the two).
TrialResult run_nqm_analytic(const TrialSpec& spec, bool force_stepwise = false);

}  // namespace batchlab::sim
