// Noisy quadratic model, sampled mode: real stochastic iterates (Zhang et al. 2019).
//
//   L(theta) = 1/2 sum_i h_i theta_i^2,   g = H theta + eps,  eps ~ N(0, C / b)
//   h_i = i^-curvature_power, c_i = i^-noise_power, theta_0,i ~ N(0, init_variance),
// b the batch of the worker drawing the gradient (a worker with batch B/K sees noise C K / B;
// averaging K such gradients gives C / B, as one batch of B would).
//
// Layers (so layer-wise adaptation has something to adapt): dimension i (1-based) belongs to
// layer (i-1) mod layers, so every layer spans the whole spectrum, and the optimizer sees layer
// l in rescaled coordinates phi = theta / s_l with s_l = spread^(l/(layers-1) - 1/2). The loss is
// unchanged (L(theta) = 1/2 sum h_i s_l^2 phi_i^2), but layer l has curvature s_l^2 h_i, noise
// s_l^2 c_i and initial norm proportional to 1/s_l: a badly scaled problem of the kind LARS/LAMB
// were designed for. With layers = 1 (s = 1) this is exactly the NQM of the analytic mode.
// Parameters are stored layer by layer (group l is contiguous).
#pragma once

#include "sim/landscape.h"

namespace batchlab::sim {

class NqmSampled final : public Landscape {
 public:
  explicit NqmSampled(const LandscapeConfig& cfg);
  std::int64_t dim() const override { return h_.size(); }
  const std::vector<Group>& groups() const override { return groups_; }
  Eigen::VectorXd initial_point(Rng& rng) const override;
  double loss(const Eigen::VectorXd& phi) const override;
  double metric(const Eigen::VectorXd& phi) const override { return loss(phi); }
  std::string metric_name() const override { return "loss"; }
  void gradient(const Eigen::VectorXd& phi, std::int64_t batch, BatchStream& stream,
                Eigen::VectorXd& g) const override;
  void full_gradient(const Eigen::VectorXd& phi, Eigen::VectorXd& g) const override;
  std::optional<double> optimum_loss() const override { return 0.0; }
  Eigen::VectorXd curvature_diagonal() const override { return h_; }
  // Storage-order curvature, noise and scale (tests).
  const Eigen::VectorXd& h() const { return h_; }
  const Eigen::VectorXd& c() const { return c_; }
  const Eigen::VectorXd& scale() const { return s_; }

 private:
  Eigen::VectorXd h_, c_, s_;  // in the optimizer's coordinates
  double init_sd_;
  std::vector<Group> groups_;
};

}  // namespace batchlab::sim
