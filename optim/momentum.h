// Heavy-ball momentum (Polyak 1964), in the two forms found in the literature.
//
// PyTorch form (default):      v <- m v + (1 - dampening) (g + wd w);   w <- w - lr v
// Goyal et al. 2017, eq. (9):  v <- m' v + lr (g + wd w);               w <- w - v
//   with m' = m lr_t / lr_{t-1} when momentum_correction is on (their eq. 10), else m' = m.
// With a constant lr the two forms give identical iterates; they differ when the lr changes,
// which is exactly what momentum correction repairs.
//
// First step: the buffer starts at zero, in both forms. PyTorch's SGD instead sets the buffer
// to the first (g + wd w) without dampening. With dampening = 0 (the usual setting) the two
// conventions give the same v_1 = g_1 + wd w_1 and therefore identical iterates. With
// dampening d > 0 our first buffer is (1 - d) times PyTorch's, a difference that then decays
// like m^t. lars:apex (lars.h) reproduces PyTorch's initialisation exactly.
#pragma once

#include <string>
#include <vector>

#include "optim/io.h"
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
        correction_(cfg.momentum_correction) {
    // Settings that the chosen form would silently ignore are errors.
    if (lr_in_buffer_ && damp_ != 0.0)
      throw ConfigError("optimizer.dampening = " + format_number(damp_) +
                        ": not supported with lr_in_momentum = true (Goyal form has no dampening)");
    if (correction_ && !lr_in_buffer_)
      throw ConfigError(
          "optimizer.momentum_correction = true: needs lr_in_momentum = true (the PyTorch form "
          "v <- m v + g is already invariant to lr changes)");
  }

  double step(std::size_t group, View w, CView g, const StepContext& c) override {
    Buffer& v = v_[group];
    if (lr_in_buffer_) {
      const double m = correction_ && c.prev_lr > 0.0 ? m_ * c.lr / c.prev_lr : m_;
      B::axpbypcz(c.lr * c.grad_scale, g, c.lr * c.weight_decay, w, m, v);  // v <- m' v + lr (g + wd w)
      B::axpby(-1.0, v, 1.0, w);                                          // w <- w - v
    } else {
      const double k = 1.0 - damp_;
      B::axpbypcz(k * c.grad_scale, g, k * c.weight_decay, w, m_, v);  // v <- m v + (1-d)(g + wd w)
      B::axpby(-c.lr, v, 1.0, w);                                     // w <- w - lr v
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
