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
        b1_(cfg.beta1),
        b2_(cfg.beta2),
        eps_(cfg.eps),
        lo_(cfg.lamb_phi_lower),
        hi_(cfg.lamb_phi_upper) {}

  double step(std::size_t group, View w, CView g, const StepContext& c) override {
    const double wd = c.weight_decay;
    double ms = 1.0, vs = 1.0;
    if (variant_ != LambVariant::kNoBias) {
      const double t = static_cast<double>(c.step);
      ms = 1.0 / (1.0 - std::pow(b1_, t));
      vs = 1.0 / (1.0 - std::pow(b2_, t));
    }
    Buffer& u = u_[group];
    B::adam_moments(m_[group], v_[group], b1_, b2_, c.grad_scale, g, 0.0, w);
    B::adam_direction(u, m_[group], v_[group], ms, vs, eps_);  // u = m^ / (sqrt(v^) + eps)
    if (wd != 0.0) B::axpby(wd, w, 1.0, u);                    // u += wd w
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
    return {{"exp_avg", &m_[group]}, {"exp_avg_sq", &v_[group]}};
  }
  void init_group(std::size_t group, CView w) override {
    if (m_.size() <= group) {
      m_.resize(group + 1);
      v_.resize(group + 1);
      u_.resize(group + 1);
    }
    m_[group] = B::zeros_like(w);
    v_[group] = B::zeros_like(w);
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
  double b1_, b2_, eps_, lo_, hi_;
  std::vector<Buffer> m_, v_, u_;
};

}  // namespace batchlab::optim
