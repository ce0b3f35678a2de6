#include "sim/nqm_calibration.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "optim/io.h"

namespace batchlab::sim {
namespace {

void check_inputs(const SpectrumMeasurement& m) {
  auto bad = [](const std::string& why) { throw std::invalid_argument("calibrate_nqm: " + why); };
  const auto k = static_cast<std::int64_t>(m.top_h.size());
  if (k < 1) bad("no top eigenvalues");
  if (m.top_c.size() != m.top_h.size()) bad("top_h and top_c differ in size");
  if (m.parameters < k) bad("more top eigenvalues than parameters");
  if (m.tail_nodes.size() != m.tail_weights.size()) bad("tail nodes and weights differ in size");
  for (double c : m.top_c)
    if (!(c >= 0.0) || !std::isfinite(c)) bad("a noise variance c_i is negative or not finite");
  if (!(m.tail_trace_sigma >= 0.0)) bad("tr(P Sigma P) = " + optim::format_number(m.tail_trace_sigma) + " is negative");
  if (!std::isfinite(m.tail_trace_h_sigma)) bad("tr(P H P Sigma) is not finite");
  if (!(m.grad_sq > 0.0) || !std::isfinite(m.grad_sq)) bad("|G|^2 = " + optim::format_number(m.grad_sq) + " is not > 0");
  if (!(m.loss_gap_init > 0.0)) bad("the initial loss gap " + optim::format_number(m.loss_gap_init) + " is not > 0");
  if (!(m.loss_gap_target > 0.0 && m.loss_gap_target < m.loss_gap_init))
    bad("the target loss gap " + optim::format_number(m.loss_gap_target) + " is not in (0, initial gap " +
        optim::format_number(m.loss_gap_init) + ")");
}

// sum m h^(p+1+e) / sum m h^(p+e): the mean of h under weights m h^(p+e), increasing in e.
double weighted_mean(const Eigen::ArrayXd& h, const Eigen::ArrayXd& m, double p, double e) {
  // Powers relative to the largest h keep the sums finite for any e in range.
  const Eigen::ArrayXd w = m * (h / h.maxCoeff()).pow(p + e);
  return (w * h).sum() / w.sum();
}

constexpr double kExponentRange = 4.0;

// e in [-4, 4] with weighted_mean(h, m, p, e) = ratio (bisection); the nearer end, flagged, when
// the ratio lies outside the means that range gives.
double exponent_for_mean(const Eigen::ArrayXd& h, const Eigen::ArrayXd& m, double p, double ratio, bool& clamped) {
  double lo = -kExponentRange, hi = kExponentRange;
  clamped = false;
  if (!(ratio > weighted_mean(h, m, p, lo))) {
    clamped = true;
    return lo;
  }
  if (!(ratio < weighted_mean(h, m, p, hi))) {
    clamped = true;
    return hi;
  }
  for (int it = 0; it < 200 && hi - lo > 1e-13; ++it) {
    const double mid = 0.5 * (lo + hi);
    (weighted_mean(h, m, p, mid) < ratio ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace

CalibratedNqm calibrate_nqm(const SpectrumMeasurement& m) {
  check_inputs(m);
  CalibratedNqm out;
  const auto k = static_cast<std::int64_t>(m.top_h.size());
  const double tail_dirs = static_cast<double>(m.parameters - k);

  std::vector<double> h, c, mult;
  for (std::size_t i = 0; i < m.top_h.size(); ++i) {
    if (!(m.top_h[i] > 0.0)) {
      out.dropped_directions += 1.0;
      out.dropped_trace += m.top_h[i];
      continue;
    }
    h.push_back(m.top_h[i]);
    c.push_back(m.top_c[i]);
    mult.push_back(1.0);
  }
  out.top_dimensions = static_cast<int>(h.size());
  for (std::size_t j = 0; j < m.tail_nodes.size(); ++j) {
    const double theta = m.tail_nodes[j], mj = tail_dirs * m.tail_weights[j];
    if (!(mj > 0.0)) continue;
    if (!(theta > 0.0)) {
      out.dropped_directions += mj;
      out.dropped_trace += mj * theta;
      continue;
    }
    h.push_back(theta);
    mult.push_back(mj);
  }
  const auto d = static_cast<Eigen::Index>(h.size());
  const auto top = static_cast<Eigen::Index>(out.top_dimensions);
  if (d == 0) throw std::invalid_argument("calibrate_nqm: no direction of positive curvature was measured");
  const Eigen::ArrayXd hh = Eigen::Map<const Eigen::ArrayXd>(h.data(), d);
  const Eigen::ArrayXd mu = Eigen::Map<const Eigen::ArrayXd>(mult.data(), d);

  // Tail noise law from the tail's noise-weighted mean curvature.
  Eigen::ArrayXd cdir(d);
  cdir.head(top) = Eigen::Map<const Eigen::ArrayXd>(c.data(), top);
  if (d > top && m.tail_trace_sigma > 0.0) {
    const Eigen::ArrayXd th = hh.tail(d - top), mt = mu.tail(d - top);
    out.noise_beta = exponent_for_mean(th, mt, 0.0, m.tail_trace_h_sigma / m.tail_trace_sigma, out.noise_beta_clamped);
    out.noise_a = m.tail_trace_sigma / (mt * th.pow(out.noise_beta)).sum();
    cdir.tail(d - top) = out.noise_a * th.pow(out.noise_beta);
  } else {
    cdir.tail(d - top).setZero();
  }
  // Initial error law from the loss gap and the squared gradient norm.
  const double gap = m.loss_gap_init;
  const double e = exponent_for_mean(hh, mu, 1.0, m.grad_sq / (2.0 * gap), out.s0_gamma_clamped);
  out.s0_gamma = -e;
  const Eigen::ArrayXd shape = hh.pow(-out.s0_gamma);
  out.s0_sigma = 2.0 * gap / (mu * hh * shape).sum();

  auto sp = std::make_shared<NqmSpectrum>();
  sp->h = hh;
  sp->c = cdir * mu;
  sp->s0 = out.s0_sigma * shape * mu;
  out.trace_h_positive = (mu * hh).sum();
  out.target = m.loss_gap_target;
  out.initial_b_simple = sp->c.sum() / (sp->h.square() * sp->s0).sum();
  out.initial_b_noise = (sp->h * sp->c).sum() / (sp->h.cube() * sp->s0).sum();
  out.multiplicity = std::move(mult);
  out.spectrum = std::move(sp);
  return out;
}

}  // namespace batchlab::sim
