// Plain stochastic gradient descent with L2 weight decay.
//
//   w <- w - lr (g + wd w)
//
// Robbins & Monro 1951. g is the mean gradient over the batch (batchlab convention).
#pragma once

#include "optim/rule.h"

namespace batchlab::optim {

template <class B>
class Sgd final : public Rule<B> {
 public:
  using typename Rule<B>::View;
  using typename Rule<B>::CView;
  using typename Rule<B>::Buffer;

  explicit Sgd(const OptimizerConfig&) {}
  double step(std::size_t, View w, CView g, const StepContext& c) override {
    // w <- (1 - lr wd) w - lr s g
    B::axpby(-c.lr * c.grad_scale, g, 1.0 - c.lr * c.weight_decay, w);
    return 1.0;
  }
  std::vector<std::pair<std::string, Buffer*>> state(std::size_t) override { return {}; }
  void init_group(std::size_t, CView) override {}
  std::string name() const override { return "sgd"; }
};

}  // namespace batchlab::optim
