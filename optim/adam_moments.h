// The per-group first and second moment buffers that Adam (adam.h), AdamW (adamw.h) and LAMB
// (lamb.h) share (Kingma & Ba 2015, Algorithm 1), with their bias correction:
//
//   m <- b1 m + (1 - b1) d;        v <- b2 v + (1 - b2) d^2,     d = grad_scale g + c w
//   m^ = m / (1 - b1^t);           v^ = v / (1 - b2^t)          (t = 1-based update index)
//
// c is Adam's L2 decay (0 for AdamW and LAMB, whose decay is decoupled). Each rule keeps its
// own update equation in its own file; this piece only owns the buffers, their names in
// state() ("exp_avg", "exp_avg_sq", as torch.optim), their allocation and the correction factors.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "optim/config.h"

namespace batchlab::optim {

template <class B>
struct AdamMoments {
  using Buffer = typename B::Buffer;
  using View = typename B::View;
  using CView = typename B::CView;

  // Multipliers that turn m and v into m^ and v^: 1 / (1 - b^t).
  struct Correction {
    double m = 1.0, v = 1.0;
  };

  explicit AdamMoments(const OptimizerConfig& cfg) : b1(cfg.beta1), b2(cfg.beta2) {}

  // Zero moments for a group shaped like w (growing the per-group lists as needed).
  void init_group(std::size_t group, CView w) {
    if (m.size() <= group) {
      m.resize(group + 1);
      v.resize(group + 1);
    }
    m[group] = B::zeros_like(w);
    v[group] = B::zeros_like(w);
  }
  std::vector<std::pair<std::string, Buffer*>> state(std::size_t group) {
    return {{"exp_avg", &m[group]}, {"exp_avg_sq", &v[group]}};
  }
  // m, v <- the moment update with d = grad_scale g + l2 w (w is not read when l2 = 0).
  void update(std::size_t group, CView g, double grad_scale, double l2, CView w) {
    B::adam_moments(m[group], v[group], b1, b2, grad_scale, g, l2, w);
  }
  // 1 / (1 - b1^t) and 1 / (1 - b2^t) for the 1-based update index t.
  Correction correction(std::int64_t step) const {
    const double t = static_cast<double>(step);
    return {1.0 / (1.0 - std::pow(b1, t)), 1.0 / (1.0 - std::pow(b2, t))};
  }

  double b1, b2;
  std::vector<Buffer> m, v;
};

}  // namespace batchlab::optim
