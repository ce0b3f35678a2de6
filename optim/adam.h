// Adam with L2 weight decay in the gradient (Kingma & Ba 2015; torch.optim.Adam).
//
//   d <- g + wd w
//   m <- b1 m + (1 - b1) d;        v <- b2 v + (1 - b2) d^2
//   m^ = m / (1 - b1^t);           v^ = v / (1 - b2^t)          (t = 1-based update index)
//   w <- w - lr m^ / (sqrt(v^) + eps)
//
// The decay passes through the adaptive denominator, unlike AdamW (adamw.h). Moments start at
// zero. Malladi et al. 2022 give the batch-size scaling of (lr, b1, b2, eps): scaling.h.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "optim/rule.h"

namespace batchlab::optim {

template <class B>
class Adam final : public Rule<B> {
 public:
  using typename Rule<B>::View;
  using typename Rule<B>::CView;
  using typename Rule<B>::Buffer;

  explicit Adam(const OptimizerConfig& cfg) : b1_(cfg.beta1), b2_(cfg.beta2), eps_(cfg.eps) {}

  double step(std::size_t group, View w, CView g, const StepContext& c) override {
    const double t = static_cast<double>(c.step);
    const double bc1 = 1.0 - std::pow(b1_, t), bc2 = 1.0 - std::pow(b2_, t);
    B::adam_moments(m_[group], v_[group], b1_, b2_, c.grad_scale, g, c.weight_decay, w);
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
  std::string name() const override { return "adam"; }

 private:
  double b1_, b2_, eps_;
  std::vector<Buffer> m_, v_;
};

}  // namespace batchlab::optim
