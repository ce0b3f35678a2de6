// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019; torch.optim.AdamW).
//
//   w <- w (1 - lr wd)                                   (decay first, outside the moments)
//   m <- b1 m + (1 - b1) g;        v <- b2 v + (1 - b2) g^2
//   m^ = m / (1 - b1^t);           v^ = v / (1 - b2^t)
//   w <- w - lr m^ / (sqrt(v^) + eps)
//
// The decay is multiplied by the scheduled lr, as in PyTorch (not by lr / lr_max as in the
// paper's eta_t schedule multiplier). The Adam part does not read w, so the order of the two
// updates does not matter.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "optim/rule.h"

namespace batchlab::optim {

template <class B>
class AdamW final : public Rule<B> {
 public:
  using typename Rule<B>::View;
  using typename Rule<B>::CView;
  using typename Rule<B>::Buffer;

  explicit AdamW(const OptimizerConfig& cfg) : b1_(cfg.beta1), b2_(cfg.beta2), eps_(cfg.eps) {}

  double step(std::size_t group, View w, CView g, const StepContext& c) override {
    const double t = static_cast<double>(c.step);
    const double bc1 = 1.0 - std::pow(b1_, t), bc2 = 1.0 - std::pow(b2_, t);
    if (c.weight_decay != 0.0) B::scale(w, 1.0 - c.lr * c.weight_decay);
    B::adam_moments(m_[group], v_[group], b1_, b2_, c.grad_scale, g, 0.0, w);
    B::add_adam_direction(w, -c.lr, m_[group], v_[group], 1.0 / bc1, 1.0 / bc2, eps_);
    return 1.0;
  }
  std::vector<std::pair<std::string, Buffer*>> state(std::size_t group) override {
    return {{"exp_avg", &m_[group]}, {"exp_avg_sq", &v_[group]}};
  }
  void init_group(std::size_t group, CView w) override {
    if (m_.size() <= group) {
      m_.resize(group + 1);
      v_.resize(group + 1);
    }
    m_[group] = B::zeros_like(w);
    v_[group] = B::zeros_like(w);
  }
  std::string name() const override { return "adamw"; }

 private:
  double b1_, b2_, eps_;
  std::vector<Buffer> m_, v_;
};

}  // namespace batchlab::optim
