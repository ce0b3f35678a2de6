// Adam with L2 weight decay in the gradient (Kingma & Ba 2015; torch.optim.Adam).
//
//   d <- g + wd w
//   m <- b1 m + (1 - b1) d;        v <- b2 v + (1 - b2) d^2
//   m^ = m / (1 - b1^t);           v^ = v / (1 - b2^t)          (t = 1-based update index)
//   w <- w - lr m^ / (sqrt(v^) + eps)
//
// The decay passes through the adaptive denominator, unlike AdamW (adamw.h). Moments start at
// zero; their buffers and bias correction are shared with AdamW and LAMB (adam_moments.h).
// Malladi et al. 2022 give the batch-size scaling of (lr, b1, b2, eps): scaling.h.
#pragma once

#include <string>
#include <vector>

#include "optim/adam_moments.h"
#include "optim/rule.h"

namespace batchlab::optim {

template <class B>
class Adam final : public Rule<B> {
 public:
  using typename Rule<B>::View;
  using typename Rule<B>::CView;
  using typename Rule<B>::Buffer;

  explicit Adam(const OptimizerConfig& cfg) : moments_(cfg), eps_(cfg.eps) {}

  double step(std::size_t group, View w, CView g, const StepContext& c) override {
    const auto bc = moments_.correction(c.step);
    moments_.update(group, g, c.grad_scale, c.weight_decay, w);
    B::add_adam_direction(w, -c.lr, moments_.m[group], moments_.v[group], bc.m, bc.v, eps_);
    return 1.0;
  }
  std::vector<std::pair<std::string, Buffer*>> state(std::size_t group) override {
    return moments_.state(group);
  }
  void init_group(std::size_t group, CView w) override { moments_.init_group(group, w); }
  std::string name() const override { return "adam"; }

 private:
  AdamMoments<B> moments_;
  double eps_;
};

}  // namespace batchlab::optim
