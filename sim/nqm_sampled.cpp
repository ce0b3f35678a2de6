#include "sim/nqm_sampled.h"

#include <cmath>
#include <random>

namespace batchlab::sim {

NqmSampled::NqmSampled(const LandscapeConfig& cfg) : init_sd_(std::sqrt(cfg.init_variance)) {
  const std::int64_t d = cfg.dim;
  const int L = cfg.layers;
  h_.resize(d), c_.resize(d), s_.resize(d);
  std::int64_t pos = 0;
  for (int l = 0; l < L; ++l) {
    const double s = L == 1 ? 1.0 : std::pow(cfg.layer_scale_spread, double(l) / (L - 1) - 0.5);
    Group g{"layer" + std::to_string(l), pos, 0, false};
    for (std::int64_t i = l + 1; i <= d; i += L) {
      const double di = static_cast<double>(i);
      h_[pos] = s * s * std::pow(di, -cfg.curvature_power);
      c_[pos] = s * s * std::pow(di, -cfg.noise_power);
      s_[pos] = s;
      ++pos;
    }
    g.size = pos - g.offset;
    groups_.push_back(g);
  }
}

Eigen::VectorXd NqmSampled::initial_point(Rng& rng) const {
  std::normal_distribution<double> n(0.0, 1.0);
  Eigen::VectorXd x(dim());
  for (Eigen::Index i = 0; i < x.size(); ++i) x[i] = init_sd_ * n(rng) / s_[i];
  return x;
}

double NqmSampled::loss(const Eigen::VectorXd& phi) const {
  return 0.5 * (h_.array() * phi.array().square()).sum();
}

void NqmSampled::gradient(const Eigen::VectorXd& phi, std::int64_t batch, BatchStream& stream,
                          Eigen::VectorXd& g) const {
  std::normal_distribution<double> n(0.0, 1.0);
  const double inv_b = 1.0 / static_cast<double>(batch);
  for (Eigen::Index i = 0; i < phi.size(); ++i)
    g[i] = h_[i] * phi[i] + std::sqrt(c_[i] * inv_b) * n(stream.rng);
}

void NqmSampled::full_gradient(const Eigen::VectorXd& phi, Eigen::VectorXd& g) const {
  g = (h_.array() * phi.array()).matrix();
}

}  // namespace batchlab::sim
