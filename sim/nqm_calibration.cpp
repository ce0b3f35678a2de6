#include "sim/nqm_calibration.h"

#include <cmath>
#include <stdexcept>
#include <string>

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
  if (!(m.tail_trace_sigma >= 0.0)) bad("tr(P Sigma P) = " + std::to_string(m.tail_trace_sigma) + " is negative");
  if (!(m.loss_gap_init > 0.0)) bad("the initial loss gap " + std::to_string(m.loss_gap_init) + " is not > 0");
  if (!(m.loss_gap_target > 0.0 && m.loss_gap_target < m.loss_gap_init))
    bad("the target loss gap " + std::to_string(m.loss_gap_target) + " is not in (0, initial gap " +
        std::to_string(m.loss_gap_init) + ")");
}

// Least-squares slope of ln c on ln h over pairs with h, c > 0; beta = 1 with < 2 pairs or no
// spread in h.
void fit_noise_slope(const SpectrumMeasurement& m, CalibratedNqm& out) {
  double sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0;
  int n = 0;
  for (std::size_t i = 0; i < m.top_h.size(); ++i) {
    if (!(m.top_h[i] > 0.0 && m.top_c[i] > 0.0)) continue;
    const double x = std::log(m.top_h[i]), y = std::log(m.top_c[i]);
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
    ++n;
  }
  out.noise_beta_points = n;
  const double var = n >= 2 ? sxx - sx * sx / n : 0.0;
  out.noise_beta = var > 1e-12 ? (sxy - sx * sy / n) / var : 1.0;
  if (var <= 1e-12) out.noise_beta_points = std::min(n, 1);
}

}  // namespace

CalibratedNqm calibrate_nqm(const SpectrumMeasurement& m) {
  check_inputs(m);
  CalibratedNqm out;
  fit_noise_slope(m, out);
  const auto k = static_cast<std::int64_t>(m.top_h.size());
  const double tail_dirs = static_cast<double>(m.parameters - k);

  std::vector<double> h, c, mult;
  int top = 0;
  for (std::size_t i = 0; i < m.top_h.size(); ++i) {
    if (!(m.top_h[i] > 0.0)) {
      out.dropped_directions += 1.0;
      out.dropped_trace += m.top_h[i];
      continue;
    }
    h.push_back(m.top_h[i]);
    c.push_back(m.top_c[i]);
    mult.push_back(1.0);
    ++top;
  }
  out.top_dimensions = top;
  // Tail: positive nodes with their multiplicities; a from the tail's noise trace.
  double shape = 0.0;  // sum_j m_j theta_j^beta
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
    shape += mj * std::pow(theta, out.noise_beta);
  }
  out.noise_a = shape > 0.0 ? m.tail_trace_sigma / shape : 0.0;
  for (std::size_t j = static_cast<std::size_t>(top); j < h.size(); ++j)
    c.push_back(out.noise_a * std::pow(h[j], out.noise_beta));

  auto sp = std::make_shared<NqmSpectrum>();
  const auto d = static_cast<Eigen::Index>(h.size());
  sp->h = Eigen::Map<const Eigen::ArrayXd>(h.data(), d);
  const Eigen::ArrayXd mu = Eigen::Map<const Eigen::ArrayXd>(mult.data(), d);
  out.trace_h_positive = (mu * sp->h).sum();
  out.s0 = 2.0 * m.loss_gap_init / out.trace_h_positive;
  sp->c = Eigen::Map<const Eigen::ArrayXd>(c.data(), d) * mu;  // per direction x multiplicity
  sp->s0 = out.s0 * mu;
  out.target = m.loss_gap_target;
  out.initial_b_simple = sp->c.sum() / (sp->h.square() * sp->s0).sum();
  out.initial_b_noise = (sp->h * sp->c).sum() / (sp->h.cube() * sp->s0).sum();
  out.multiplicity = std::move(mult);
  out.spectrum = std::move(sp);
  return out;
}

}  // namespace batchlab::sim
