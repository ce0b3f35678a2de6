#include "sim/noise_scale_exact.h"

#include "optim/config.h"
#include "sim/landscape.h"
#include "sim/nqm.h"

namespace batchlab::sim {

NoiseScale expected_noise_scale(const LandscapeConfig& cfg, const Eigen::VectorXd& s) {
  validate_landscape(cfg);
  if (cfg.kind != "nqm")
    throw optim::ConfigError("noise scale: landscape.kind = '" + cfg.kind +
                             "': exact noise scales exist for nqm only");
  if (s.size() != cfg.dim)
    throw optim::ConfigError("noise scale: theta has " + std::to_string(s.size()) +
                             " entries, landscape.dim = " + std::to_string(cfg.dim));
  const NqmSpectrum sp = nqm_spectrum(cfg);
  NoiseScale n;
  n.trace_sigma = sp.c.sum();
  n.grad_sq = (sp.h.square() * s.array()).sum();
  n.b_simple = n.trace_sigma / n.grad_sq;
  n.b_noise = (sp.h * sp.c).sum() / (sp.h.cube() * s.array()).sum();
  return n;
}

NoiseScale exact_noise_scale(const LandscapeConfig& cfg, const Eigen::VectorXd& theta) {
  return expected_noise_scale(cfg, theta.array().square().matrix());
}

}  // namespace batchlab::sim
