// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019; torch.optim.AdamW).
//
//   w <- w (1 - lr wd)                                   (decay first, outside the moments)
//   m <- b1 m + (1 - b1) g;        v <- b2 v + (1 - b2) g^2
//   m^ = m / (1 - b1^t);           v^ = v / (1 - b2^t)
//   w <- w - lr m^ / (sqrt(v^) + eps)
//
// The decay is multiplied by the scheduled lr, as in PyTorch (not by lr / lr_max as in the
// paper's eta_t schedule multiplier). The Adam part does not read w, so the order of the two
// updates does not matter. Moment buffers and bias correction: adam_moments.h.
#pragma once

#include <string>
#include <vector>

#include "optim/adam_moments.h"
#include "optim/rule.h"

namespace batchlab::optim {

template <class B>
class AdamW final : public Rule<B> {
 public:
  using typename Rule<B>::View;
  using typename Rule<B>::CView;
  using typename Rule<B>::Buffer;

  explicit AdamW(const OptimizerConfig& cfg) : moments_(cfg), eps_(cfg.eps) {}

  double step(std::size_t group, View w, CView g, const StepContext& c) override {
    const auto bc = moments_.correction(c.step);
    if (c.weight_decay != 0.0) B::scale(w, 1.0 - c.lr * c.weight_decay);
    moments_.update(group, g, c.grad_scale, 0.0, w);
    B::add_adam_direction(w, -c.lr, moments_.m[group], moments_.v[group], bc.m, bc.v, eps_);
    return 1.0;
  }
  std::vector<std::pair<std::string, Buffer*>> state(std::size_t group) override {
    return moments_.state(group);
  }
  void init_group(std::size_t group, CView w) override { moments_.init_group(group, w); }
  std::string name() const override { return "adamw"; }

 private:
  AdamMoments<B> moments_;
  double eps_;
};

}  // namespace batchlab::optim
