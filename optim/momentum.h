// Heavy-ball momentum (Polyak 1964), in the two forms found in the literature.
//
// PyTorch form (default):      v <- m v + (1 - dampening) (g + wd w);   w <- w - lr v
// Goyal et al. 2017, eq. (9):  v <- m' v + lr (g + wd w);               w <- w - v
//   with m' = m lr_t / lr_{t-1} when momentum_correction is on (their eq. 10), else m' = m.
// With a constant lr the two forms give identical iterates; they differ when the lr changes,
// which is exactly what momentum correction repairs.
// The buffer starts at zero (so the first step is lr (1 - dampening) g in the PyTorch form;
// PyTorch itself starts the buffer at g: use lars:apex-style semantics via dampening = 0 and
// note the first step differs by the factor (1 - dampening) only).
#pragma once

#include <vector>

#include "optim/rule.h"

namespace batchlab::optim {

template <class B>
class Momentum final : public Rule<B> {
 public:
  using typename Rule<B>::View;
  using typename Rule<B>::CView;
  using typename Rule<B>::Buffer;

  explicit Momentum(const OptimizerConfig& cfg)
      : m_(cfg.momentum),
        damp_(cfg.dampening),
        lr_in_buffer_(cfg.lr_in_momentum),
        correction_(cfg.momentum_correction) {}

  double step(std::size_t group, View w, CView g, const StepContext& c) override {
    Buffer& v = v_[group];
    if (lr_in_buffer_) {
      const double m = correction_ && c.prev_lr > 0.0 ? m_ * c.lr / c.prev_lr : m_;
      B::axpby(c.lr * c.grad_scale, g, m, v);     // v <- m' v + lr g
      if (c.weight_decay != 0.0) B::axpby(c.lr * c.weight_decay, w, 1.0, v);
      B::axpby(-1.0, v, 1.0, w);                  // w <- w - v
    } else {
      B::axpby((1.0 - damp_) * c.grad_scale, g, m_, v);  // v <- m v + (1-d) g
      if (c.weight_decay != 0.0) B::axpby((1.0 - damp_) * c.weight_decay, w, 1.0, v);
      B::axpby(-c.lr, v, 1.0, w);                        // w <- w - lr v
    }
    return 1.0;
  }
  std::vector<std::pair<std::string, Buffer*>> state(std::size_t group) override {
    return {{"momentum", &v_[group]}};
  }
  void init_group(std::size_t group, CView w) override {
    if (v_.size() <= group) v_.resize(group + 1);
    v_[group] = B::zeros_like(w);
  }
  std::string name() const override { return "momentum"; }

 private:
  double m_, damp_;
  bool lr_in_buffer_, correction_;
  std::vector<Buffer> v_;
};

}  // namespace batchlab::optim
