// Diagonally preconditioned SGD, P = D^-p (Zhang et al. 2019, NQM section; p = 0 is SGD).
//
//   d <- P (g + wd w)
//   momentum = 0:  w <- w - lr d
//   momentum > 0:  v <- m v + d;  w <- w - lr v        (heavy ball, PyTorch form, v_0 = 0)
//
// The curvature diagonal D (one positive entry per parameter, e.g. the Hessian diagonal h_i of
// the noisy quadratic model) is not a hyperparameter: the caller supplies it per group, through
// the rule the Optimizer owns, before the first step:
//
//   Optimizer<B> opt(cfg, groups);                       // cfg.name = "precond"
//   precond_rule(opt.rule()).set_curvature(0, d0);       // group 0's D
//
// P = D^-p is computed once there (so no pow per step). A step on a group without a curvature
// throws. Both the gradient and its noise are preconditioned, as in the NQM analysis
// (lr becomes lr h_i^-p in dimension i).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "optim/io.h"
#include "optim/rule.h"

namespace batchlab::optim {

template <class B>
class Precond final : public Rule<B> {
 public:
  using typename Rule<B>::View;
  using typename Rule<B>::CView;
  using typename Rule<B>::Buffer;

  explicit Precond(const OptimizerConfig& cfg) : m_(cfg.momentum), power_(cfg.precond_power) {
    if (cfg.dampening != 0.0)
      throw ConfigError("optimizer.dampening = " + format_number(cfg.dampening) +
                        ": not supported by precond");
    if (cfg.lr_in_momentum || cfg.momentum_correction)
      throw ConfigError("optimizer.lr_in_momentum / momentum_correction: not supported by precond");
  }

  // D for `group`: every entry finite and > 0. May be called again to change the curvature.
  void set_curvature(std::size_t group, CView d) {
    if (!B::all_finite(d) || !(B::min_value(d) > 0.0))
      throw std::invalid_argument("precond: curvature of group " + std::to_string(group) +
                                  " must be finite and > 0 (min = " +
                                  format_number(B::min_value(d)) + ")");
    if (p_.size() <= group) p_.resize(group + 1);
    Buffer ones = B::zeros_like(d);
    B::fill(ones, 1.0);
    Buffer pw = B::zeros_like(d);
    B::add_scaled_pow(0.0, pw, 1.0, ones, d, power_);  // pw = D^-p
    p_[group] = std::move(pw);
    has_.resize(p_.size(), false);
    has_[group] = true;
  }
  bool has_curvature(std::size_t group) const { return group < has_.size() && has_[group]; }

  double step(std::size_t group, View w, CView g, const StepContext& c) override {
    if (!has_curvature(group))
      throw std::logic_error("precond: no curvature for group " + std::to_string(group) +
                             ": call precond_rule(opt.rule()).set_curvature(group, D) first");
    const Buffer& P = p_[group];
    if (B::numel(P) != B::numel(w))
      throw std::invalid_argument("precond: curvature of group " + std::to_string(group) +
                                  " has " + std::to_string(B::numel(P)) + " entries, parameters " +
                                  std::to_string(B::numel(w)));
    const double s = c.grad_scale, wd = c.weight_decay;
    if (m_ == 0.0) {
      // Decay first: it must see w before the gradient part of the update.
      if (wd != 0.0) B::addcmul(1.0, w, -c.lr * wd, w, P);
      B::addcmul(1.0, w, -c.lr * s, g, P);
    } else {
      Buffer& v = v_[group];
      B::addcmul(m_, v, s, g, P);  // v <- m v + P s g
      if (wd != 0.0) B::addcmul(1.0, v, wd, w, P);
      B::axpby(-c.lr, v, 1.0, w);
    }
    return 1.0;
  }
  std::vector<std::pair<std::string, Buffer*>> state(std::size_t group) override {
    if (m_ == 0.0) return {};
    return {{"momentum", &v_[group]}};
  }
  void init_group(std::size_t group, CView w) override {
    if (m_ == 0.0) return;
    if (v_.size() <= group) v_.resize(group + 1);
    v_[group] = B::zeros_like(w);
  }
  std::string name() const override { return "precond"; }

 private:
  double m_;
  double power_;
  std::vector<Buffer> p_;   // D^-p per group
  std::vector<bool> has_;
  std::vector<Buffer> v_;
};

// The Precond rule behind an Optimizer's rule(); throws if the optimizer is not "precond".
template <class B>
Precond<B>& precond_rule(Rule<B>& rule) {
  auto* p = dynamic_cast<Precond<B>*>(&rule);
  if (p == nullptr)
    throw std::invalid_argument("precond_rule: optimizer rule is '" + rule.name() +
                                "', not 'precond'");
  return *p;
}

}  // namespace batchlab::optim
