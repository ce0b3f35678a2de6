// Shampoo (Gupta, Koren, Singer 2018, "Shampoo: Preconditioned Stochastic Tensor Optimization",
// Algorithm 1 for matrices) with exponentially decayed statistics, an epsilon floor, inverse
// roots recomputed every k updates, and layer-wise grafting of the step length (Anil, Gupta,
// Koren, Regan, Singer 2020, "Scalable Second Order Optimization for Deep Learning", sec. 3).
//
// A group with a matrix shape m x n (GroupOptions::shape: shape[0] x the product of the rest, so a
// linear weight [out, in] as it is, a conv kernel [out, in, kh, kw] as out x (in kh kw)); G is the
// gradient with L2 decay, t the 1-based update index, b2 = beta2, eps = precond_eps,
// k = precond_every:
//
//   G = grad_scale g + wd w
//   L <- b2 L + (1 - b2) G G'                      (m x m, L_0 = 0)
//   R <- b2 R + (1 - b2) G' G                      (n x n, R_0 = 0)
//   at t = 1, 1 + k, 1 + 2k, ...:  L^ = (L + eps I)^(-1/4),  R^ = (R + eps I)^(-1/4)
//                                  (symmetric eigendecomposition in double; backend.h)
//   P = L^ G R^                                    the Shampoo direction
//
// For a fixed gradient (b2 -> 0, eps -> 0) P = (G G')^(-1/4) G (G' G)^(-1/4) = U V' for
// G = U S V': the step is the gradient's "orthogonal part", every singular value set to 1
// (tests/optim/test_shampoo.cpp checks this and the whole trajectory against a NumPy reference).
//
// Diagonal fallback. A vector (bias, norm scale; an empty or 1-D shape) and a matrix with a side
// longer than shampoo_max_dim take the diagonal of the same statistic instead:
//   V <- b2 V + (1 - b2) G^2;   P = G / sqrt(V + eps)
// A vector's full factor would be an n x n matrix for a parameter whose coordinates are
// independent scales; an oversized side would cost an O(d^3) eigendecomposition and O(d^2)
// memory (TF Shampoo's max_matrix_size has the same purpose). The whole group falls back (not
// one side) so each group has one mode; the graft below makes the step lengths comparable.
//
// Grafting (layer-wise): the direction D of a simpler rule sets the step length of P,
//   adam: A <- b2 A + (1 - b2) G^2;  D = G / (sqrt(A / (1 - b2^t)) + eps_adam)   (optimizer.eps)
//   sgd:  D = G
//   none: no rescaling (U = P)
//   U = (||D|| / ||P||) P          (||P|| = 0 only when G = 0: then U = P = 0)
// Warm-up: for t <= precond_warmup, U = D (for graft = none, D = G): the statistics accumulate
// but the step is the diagonal rule's, so the first preconditioners see more than one gradient.
// Then heavy-ball momentum on U (PyTorch form, v_0 = 0):
//   m > 0:  v <- m v + U;  w <- w - lr v            m = 0:  w <- w - lr U
//
// L, R were not bias corrected: the graft sets the step length, and eps is a floor on their
// eigenvalues, not a relative damping. State (checkpoints, momentum averaging of local SGD):
// L, R, their inverse roots (they live across the k updates between recomputations), the
// diagonal statistic, the graft's second moment, the momentum. Averaging the inverse roots over
// workers is not the root of the averaged statistics; the next recomputation restores that.
// step() returns the graft ratio ||D|| / ||P|| (1 without grafting or during warm-up).
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "optim/backend.h"
#include "optim/rule.h"

namespace batchlab::optim {

template <class B>
  requires MatrixBackend<B>
class Shampoo final : public Rule<B> {
 public:
  using typename Rule<B>::View;
  using typename Rule<B>::CView;
  using typename Rule<B>::Buffer;

  explicit Shampoo(const OptimizerConfig& cfg)
      : m_(cfg.momentum),
        b2_(cfg.beta2),
        eps_(cfg.precond_eps),
        adam_eps_(cfg.eps),
        every_(cfg.precond_every),
        warmup_(cfg.precond_warmup),
        max_dim_(cfg.shampoo_max_dim),
        graft_(cfg.shampoo_graft) {
    if (cfg.dampening != 0.0)
      throw ConfigError("optimizer.dampening = " + std::to_string(cfg.dampening) +
                        ": not supported by shampoo");
    if (cfg.lr_in_momentum || cfg.momentum_correction)
      throw ConfigError("optimizer.lr_in_momentum / momentum_correction: not supported by shampoo");
  }

  // A group's matrix shape, or the diagonal fallback (matrix = false).
  struct Layout {
    bool matrix = false;
    std::int64_t m = 0, n = 0;
  };
  Layout layout(std::size_t group) const { return group < layout_.size() ? layout_[group] : Layout{}; }

  void set_groups(const std::vector<GroupOptions>& groups) override {
    layout_.clear();
    for (const auto& g : groups) {
      Layout l;
      if (g.shape.size() >= 2) {
        l.m = g.shape[0];
        l.n = 1;
        for (std::size_t i = 1; i < g.shape.size(); ++i) l.n *= g.shape[i];
        l.matrix = l.m <= max_dim_ && l.n <= max_dim_;
      }
      layout_.push_back(l);
    }
  }

  void init_group(std::size_t group, CView w) override {
    if (st_.size() <= group) st_.resize(group + 1);
    if (layout_.size() <= group) layout_.resize(group + 1);
    const Layout l = layout_[group];
    if (l.matrix && l.m * l.n != static_cast<std::int64_t>(B::numel(w)))
      throw std::invalid_argument("shampoo: group " + std::to_string(group) + " has " +
                                  std::to_string(B::numel(w)) + " parameters, its shape " +
                                  std::to_string(l.m) + " x " + std::to_string(l.n));
    State& s = st_[group];
    s = State{};
    s.G = B::zeros_like(w);
    s.P = B::zeros_like(w);
    s.D = B::zeros_like(w);
    if (l.matrix) {
      s.L = B::zeros(l.m * l.m, w);
      s.R = B::zeros(l.n * l.n, w);
      s.Li = B::zeros(l.m * l.m, w);
      s.Ri = B::zeros(l.n * l.n, w);
      s.T = B::zeros(l.m * l.n, w);
    } else {
      s.V = B::zeros_like(w);
      s.T = B::zeros_like(w);
    }
    if (graft_ == "adam") s.A = B::zeros_like(w);
    if (m_ != 0.0) s.mom = B::zeros_like(w);
  }

  std::vector<std::pair<std::string, Buffer*>> state(std::size_t group) override {
    if (group >= st_.size()) return {};
    State& s = st_[group];
    std::vector<std::pair<std::string, Buffer*>> out;
    if (layout_[group].matrix) {
      out = {{"shampoo_L", &s.L}, {"shampoo_R", &s.R}, {"shampoo_L_inv_root", &s.Li},
             {"shampoo_R_inv_root", &s.Ri}};
    } else {
      out = {{"shampoo_diag", &s.V}};
    }
    if (graft_ == "adam") out.emplace_back("graft_exp_avg_sq", &s.A);
    if (m_ != 0.0) out.emplace_back("momentum", &s.mom);
    return out;
  }

  double step(std::size_t group, View w, CView g, const StepContext& c) override {
    State& s = st_[group];
    B::axpbypcz(c.grad_scale, g, c.weight_decay, w, 0.0, s.G);  // G = grad_scale g + wd w
    const bool precond = c.step > warmup_;
    if (layout_[group].matrix) {
      matrix_direction(s, layout_[group], c.step, precond);
    } else {
      B::addcmul(b2_, s.V, 1.0 - b2_, s.G, s.G);
      if (precond) {
        B::copy(s.V, s.T);
        B::add_scalar(s.T, eps_);
        B::add_scaled_pow(0.0, s.P, 1.0, s.G, s.T, 0.5);  // P = G / sqrt(V + eps)
      }
    }
    graft_direction(s, c.step);
    double ratio = 1.0;
    if (precond && graft_ != "none") {
      const double pn = B::norm(s.P);
      if (pn > 0.0) ratio = B::norm(s.D) / pn;
    }
    const Buffer& U = precond ? s.P : s.D;
    const double f = precond ? ratio : 1.0;
    if (m_ != 0.0) {
      B::axpby(f, U, m_, s.mom);  // v <- m v + U
      B::axpby(-c.lr, s.mom, 1.0, w);
    } else {
      B::axpby(-c.lr * f, U, 1.0, w);
    }
    return ratio;
  }

  std::string name() const override { return "shampoo"; }

 private:
  struct State {
    Buffer G, P, D, T;        // scratch: decayed gradient, directions, L^ G
    Buffer L, R, Li, Ri;      // matrix groups: statistics and their inverse 4th roots
    Buffer V;                 // diagonal groups: the diagonal statistic
    Buffer A;                 // adam graft: second moment
    Buffer mom;               // momentum
  };

  // L, R <- the decayed Gram matrices of G; their inverse roots every k updates; P = L^ G R^.
  void matrix_direction(State& s, const Layout& l, std::int64_t step, bool precond) {
    B::matmul(s.L, 1.0 - b2_, s.G, false, s.G, true, b2_, l.m, l.n, l.m);  // L = b2 L + (1-b2) G G'
    B::matmul(s.R, 1.0 - b2_, s.G, true, s.G, false, b2_, l.n, l.m, l.n);  // R = b2 R + (1-b2) G' G
    if ((step - 1) % every_ == 0) {
      B::sym_inverse_root(s.Li, s.L, l.m, 4.0, eps_);
      B::sym_inverse_root(s.Ri, s.R, l.n, 4.0, eps_);
    }
    if (!precond) return;
    B::matmul(s.T, 1.0, s.Li, false, s.G, false, 0.0, l.m, l.m, l.n);  // T = L^ G
    B::matmul(s.P, 1.0, s.T, false, s.Ri, false, 0.0, l.m, l.n, l.n);  // P = T R^
  }

  // D: the graft rule's direction (sgd, and none during warm-up: G; adam: its bias-corrected step).
  void graft_direction(State& s, std::int64_t step) {
    if (graft_ == "adam") {
      B::addcmul(b2_, s.A, 1.0 - b2_, s.G, s.G);
      const double vs = 1.0 / (1.0 - std::pow(b2_, static_cast<double>(step)));
      B::adam_direction(s.D, s.G, s.A, 1.0, vs, adam_eps_);
    } else {
      B::copy(s.G, s.D);
    }
  }

  double m_, b2_, eps_, adam_eps_;
  std::int64_t every_, warmup_, max_dim_;
  std::string graft_;
  std::vector<Layout> layout_;
  std::vector<State> st_;
};

}  // namespace batchlab::optim
