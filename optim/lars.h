// LARS: layer-wise adaptive rate scaling (You, Gitman, Ginsburg 2017), in the three variants
// found in reference code. Per group (layer) l, with g the (clipped) mean gradient, wd the
// group's weight decay, eta = trust_coefficient, m = momentum:
//
// lars:paper  (the paper's Algorithm 1)
//   trust = eta ||w|| / (||g|| + wd ||w||)
//   v <- m v + lr trust (g + wd w);   w <- w - v                          (v_0 = 0)
//
// lars:tf     (tf.contrib.opt.LARSOptimizer)
//   trust = eta ||w|| / (||g|| + wd ||w|| + eps)                           (eps = trust_eps)
//   v <- m v + g;                     w <- w - lr trust v                  (v_0 = 0)
//   Weight decay enters only the trust ratio: TF adds the L2 term to the loss elsewhere, and
//   batchlab's losses carry no L2 term, so with lars:tf the decay does not shrink w.
//
// lars:apex   (NVIDIA apex LARC wrapping torch SGD; timm's Lars, which follows it)
//   trust = eta ||w|| / (||g|| + wd ||w|| + eps);  trust_clip: trust <- min(trust / lr, 1)
//   d = trust (g + wd w)
//   m = 0:  w <- w - lr d
//   m > 0:  v_1 = d (first step, PyTorch SGD), v <- m v + (1 - dampening) d;  w <- w - lr v
//   The clip comes after the zero-norm rule, as in timm (LARC skips both when a norm is 0,
//   which differs only when lr > 1).
//
// All variants: ||w|| = 0 or ||g|| = 0 gives trust = 1; groups with adapt = false
// (GroupOptions::exclude_from_adaptation: bias, norm layers) use trust = 1. step() returns the
// trust ratio applied (for lars:apex with trust_clip, the clipped one).
// The usual schedule is poly(2) decay with warm-up (schedule.h); eta ~ 1e-3.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "optim/io.h"
#include "optim/rule.h"

namespace batchlab::optim {

enum class LarsVariant { kPaper, kTf, kApex };

template <class B>
class Lars final : public Rule<B> {
 public:
  using typename Rule<B>::View;
  using typename Rule<B>::CView;
  using typename Rule<B>::Buffer;

  Lars(const OptimizerConfig& cfg, LarsVariant variant)
      : variant_(variant),
        m_(cfg.momentum),
        damp_(cfg.dampening),
        eta_(cfg.trust_coefficient),
        eps_(cfg.trust_eps),
        clip_(cfg.trust_clip) {
    // Reject settings a variant does not have instead of ignoring them.
    if (variant_ == LarsVariant::kPaper && eps_ != 0.0)
      throw ConfigError("optimizer.trust_eps = " + format_number(eps_) +
                        ": lars:paper has no epsilon (use lars:tf or lars:apex)");
    if (variant_ != LarsVariant::kApex && clip_)
      throw ConfigError("optimizer.trust_clip = true: only lars:apex clips the trust ratio");
    if (variant_ != LarsVariant::kApex && damp_ != 0.0)
      throw ConfigError("optimizer.dampening = " + format_number(damp_) +
                        ": only lars:apex (PyTorch SGD momentum) has dampening");
    if (cfg.lr_in_momentum || cfg.momentum_correction)
      throw ConfigError("optimizer.lr_in_momentum / momentum_correction: not supported by " +
                        name());
  }

  double step(std::size_t group, View w, CView g, const StepContext& c) override {
    const double s = c.grad_scale, wd = c.weight_decay;
    double trust = 1.0;
    if (c.adapt) {
      const double w_norm = B::norm(w);
      const double g_norm = s * B::norm(g);
      const double eps = variant_ == LarsVariant::kPaper ? 0.0 : eps_;
      if (w_norm > 0.0 && g_norm > 0.0) trust = eta_ * w_norm / (g_norm + wd * w_norm + eps);
      if (variant_ == LarsVariant::kApex && clip_ && c.lr > 0.0) trust = std::min(trust / c.lr, 1.0);
    }
    switch (variant_) {
      case LarsVariant::kPaper: {
        Buffer& v = v_[group];
        B::axpbypcz(c.lr * trust * s, g, c.lr * trust * wd, w, m_, v);  // v <- m v + lr trust (g + wd w)
        B::axpby(-1.0, v, 1.0, w);
        break;
      }
      case LarsVariant::kTf: {
        Buffer& v = v_[group];
        B::axpby(s, g, m_, v);               // v <- m v + g
        B::axpby(-c.lr * trust, v, 1.0, w);  // w <- w - lr trust v
        break;
      }
      case LarsVariant::kApex: {
        if (m_ == 0.0) {
          B::axpby(-c.lr * trust * s, g, 1.0 - c.lr * trust * wd, w);  // w <- w - lr d
          break;
        }
        Buffer& v = v_[group];
        const double k = c.step == 1 ? 1.0 : 1.0 - damp_;  // PyTorch: v_1 = d, undampened
        const double mv = c.step == 1 ? 0.0 : m_;
        B::axpbypcz(k * trust * s, g, k * trust * wd, w, mv, v);
        B::axpby(-c.lr, v, 1.0, w);
        break;
      }
    }
    return trust;
  }
  std::vector<std::pair<std::string, Buffer*>> state(std::size_t group) override {
    if (!has_buffer()) return {};
    return {{"momentum", &v_[group]}};
  }
  void init_group(std::size_t group, CView w) override {
    if (!has_buffer()) return;
    if (v_.size() <= group) v_.resize(group + 1);
    v_[group] = B::zeros_like(w);
  }
  std::string name() const override {
    switch (variant_) {
      case LarsVariant::kPaper: return "lars:paper";
      case LarsVariant::kTf: return "lars:tf";
      case LarsVariant::kApex: return "lars:apex";
    }
    return "lars";
  }

 private:
  bool has_buffer() const { return !(variant_ == LarsVariant::kApex && m_ == 0.0); }

  LarsVariant variant_;
  double m_, damp_, eta_, eps_;
  bool clip_;
  std::vector<Buffer> v_;
};

}  // namespace batchlab::optim
