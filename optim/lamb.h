// LAMB: layer-wise adaptive moments (You et al. 2019, "Large batch optimization for deep
// learning: training BERT in 76 minutes", v5 Algorithm 2), in three named variants.
// Per group (layer), with g the mean gradient (times grad_scale when max_grad_norm clips),
// t the 1-based update index and wd the group's decoupled weight decay:
//
//   m <- b1 m + (1 - b1) g;       v <- b2 v + (1 - b2) g^2
//   m^ = m / (1 - b1^t);          v^ = v / (1 - b2^t)
//   u  = m^ / (sqrt(v^) + eps) + wd w
//   ratio = phi(||w||) / ||u||,   phi(x) = clamp(x, lamb_phi_lower, lamb_phi_upper)
//   w <- w - lr ratio u
//
// lamb:paper   exactly the above; the ratio is applied to every group with adapt = true.
// lamb:nobias  the same without bias correction (m^ = m, v^ = v), as several BERT codebases do.
// lamb:apex    NVIDIA apex FusedLAMB with its defaults (adam_w_mode = True, grad_averaging =
//              True, bias_correction = True, use_nvlamb = False):
//              - the gradient is first clipped by the global norm over all groups:
//                g <- g min(1, max_grad_norm / ||g_all||). The Optimizer does this for every
//                rule when optimizer.max_grad_norm > 0; apex's default is 1.0, batchlab's is 0
//                (off), so set max_grad_norm = 1 to reproduce apex;
//              - decay is decoupled (inside u, as above);
//              - the ratio is applied only to groups whose effective wd != 0 (use_nvlamb =
//                False); groups with wd = 0 take the plain step lr u, even with adapt = true.
//
// All variants: ||w|| = 0 or ||u|| = 0 gives ratio 1; groups with adapt = false use ratio 1.
// phi defaults to the identity (lower 0, upper inf), which is what the paper and apex use;
// torch-optimizer's Lamb clamps ||w|| to [0, 10] (lamb_phi_upper = 10).
// step() returns the ratio phi(||w||)/||u|| (without lr) so it can be logged.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "optim/adam_moments.h"
#include "optim/rule.h"

namespace batchlab::optim {

enum class LambVariant { kPaper, kApex, kNoBias };

template <class B>
class Lamb final : public Rule<B> {
 public:
  using typename Rule<B>::View;
  using typename Rule<B>::CView;
  using typename Rule<B>::Buffer;

  Lamb(const OptimizerConfig& cfg, LambVariant variant)
      : variant_(variant),
        moments_(cfg),
        eps_(cfg.eps),
        lo_(cfg.lamb_phi_lower),
        hi_(cfg.lamb_phi_upper) {}

  double step(std::size_t group, View w, CView g, const StepContext& c) override {
    const double wd = c.weight_decay;
    typename AdamMoments<B>::Correction bc;  // lamb:nobias: m^ = m, v^ = v
    if (variant_ != LambVariant::kNoBias) bc = moments_.correction(c.step);
    Buffer& u = u_[group];
    moments_.update(group, g, c.grad_scale, 0.0, w);
    // u = m^ / (sqrt(v^) + eps)
    B::adam_direction(u, moments_.m[group], moments_.v[group], bc.m, bc.v, eps_);
    if (wd != 0.0) B::axpby(wd, w, 1.0, u);  // u += wd w
    double ratio = 1.0;
    const bool adapt = c.adapt && (variant_ != LambVariant::kApex || wd != 0.0);
    if (adapt) {
      const double w_norm = B::norm(w), u_norm = B::norm(u);
      if (w_norm > 0.0 && u_norm > 0.0) ratio = std::clamp(w_norm, lo_, hi_) / u_norm;
    }
    B::axpby(-c.lr * ratio, u, 1.0, w);
    return ratio;
  }
  std::vector<std::pair<std::string, Buffer*>> state(std::size_t group) override {
    return moments_.state(group);
  }
  void init_group(std::size_t group, CView w) override {
    moments_.init_group(group, w);
    if (u_.size() <= group) u_.resize(group + 1);
    u_[group] = B::zeros_like(w);  // scratch for the update direction (not state)
  }
  std::string name() const override {
    switch (variant_) {
      case LambVariant::kPaper: return "lamb:paper";
      case LambVariant::kApex: return "lamb:apex";
      case LambVariant::kNoBias: return "lamb:nobias";
    }
    return "lamb";
  }

 private:
  LambVariant variant_;
  AdamMoments<B> moments_;  // m, v and their bias correction, as Adam's (adam_moments.h)
  double eps_, lo_, hi_;
  std::vector<Buffer> u_;
};

}  // namespace batchlab::optim
