// The Eigen backend of the update rules: contiguous vectors of float or double.
//
// Every update rule in optim/ is a template over a *backend* B, a struct of static functions
// over three types:
//   B::Buffer  owned state (momentum, Adam moments), created by B::zeros_like
//   B::View    a mutable view of one parameter group (written in place)
//   B::CView   a read-only view (gradients are never written: logged gradient norms and
//              LARS trust ratios must see the gradient the model produced)
// The same rule code runs on torch tensors through realtrain/torch_backend.h, which provides
// the same functions; tests/realtrain checks the two agree.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <type_traits>

namespace batchlab::optim {

template <class S>
struct EigenBackend {
  using Scalar = S;
  using Buffer = Eigen::Matrix<S, Eigen::Dynamic, 1>;
  using View = Eigen::Ref<Buffer>;
  using CView = Eigen::Ref<const Buffer>;

  static Buffer zeros_like(CView x) { return Buffer::Zero(x.size()); }
  static std::size_t numel(CView x) { return static_cast<std::size_t>(x.size()); }
  static void copy(CView src, View dst) { dst = src; }
  static void fill(View x, double value) { x.setConstant(static_cast<S>(value)); }
  static void scale(View y, double a) { y *= static_cast<S>(a); }
  // y = a x + b y
  static void axpby(double a, CView x, double b, View y) {
    y = static_cast<S>(a) * x + static_cast<S>(b) * y;
  }
  // y = b y + a x1 x2 (elementwise)
  static void addcmul(double b, View y, double a, CView x1, CView x2) {
    y = static_cast<S>(b) * y + static_cast<S>(a) * x1.cwiseProduct(x2);
  }
  // out = (m ms) / (sqrt(v vs) + eps): the bias-corrected Adam direction.
  static void adam_direction(View out, CView m, CView v, double ms, double vs, double eps) {
    out = (static_cast<S>(ms) * m).array() /
          ((static_cast<S>(vs) * v).array().sqrt() + static_cast<S>(eps));
  }
  // y += a (m ms) / (sqrt(v vs) + eps), fused so Adam touches each array once.
  static void add_adam_direction(View y, double a, CView m, CView v, double ms, double vs,
                                 double eps) {
    y.array() += static_cast<S>(a) * (static_cast<S>(ms) * m).array() /
                 ((static_cast<S>(vs) * v).array().sqrt() + static_cast<S>(eps));
  }
  // y = b y + a x1 / x2^p elementwise (diagonal preconditioning, x2 > 0)
  static void add_scaled_pow(double b, View y, double a, CView x1, CView x2, double p) {
    y = static_cast<S>(b) * y +
        static_cast<S>(a) * (x1.array() * x2.array().pow(static_cast<S>(-p))).matrix();
  }
  // z = a x + b y + c z  (b = 0: y is not read). One pass for momentum with L2 decay.
  static void axpbypcz(double a, CView x, double b, CView y, double c, View z) {
    if (b == 0.0) {
      axpby(a, x, c, z);
      return;
    }
    z = static_cast<S>(a) * x + static_cast<S>(b) * y + static_cast<S>(c) * z;
  }
  // Adam's moment updates for the direction d = a g + c w (c = 0: w is not read):
  //   m = b1 m + (1 - b1) d;   v = b2 v + (1 - b2) d^2
  // One pass over g, m, v (and w) instead of three: Adam is memory bound, and d never has to
  // be stored (gradients are read-only, so L2 decay cannot be added into g).
  static void adam_moments(View m, View v, double b1, double b2, double a, CView g, double c,
                           CView w) {
    const Eigen::Index n = m.size();
    S* __restrict pm = m.data();
    S* __restrict pv = v.data();
    const S* __restrict pg = g.data();
    const S sb1 = static_cast<S>(b1), sc1 = static_cast<S>(1.0 - b1);
    const S sb2 = static_cast<S>(b2), sc2 = static_cast<S>(1.0 - b2);
    const S sa = static_cast<S>(a), sc = static_cast<S>(c);
    if (c == 0.0) {
      for (Eigen::Index i = 0; i < n; ++i) {
        const S d = sa * pg[i];
        pm[i] = sb1 * pm[i] + sc1 * d;
        pv[i] = sb2 * pv[i] + sc2 * d * d;
      }
    } else {
      const S* __restrict pw = w.data();
      for (Eigen::Index i = 0; i < n; ++i) {
        const S d = sa * pg[i] + sc * pw[i];
        pm[i] = sb1 * pm[i] + sc1 * d;
        pv[i] = sb2 * pv[i] + sc2 * d * d;
      }
    }
  }
  static double min_value(CView x) { return static_cast<double>(x.minCoeff()); }
  // Reductions accumulate in double whatever S is, so trust ratios and clipping norms do not
  // depend on the parameter width. For float, a plain loop with independent double partial
  // sums vectorises (Eigen's cast<double>() expression ran ~4x slower, which made LAMB and
  // LARS norm-bound).
  static double squared_norm(CView x) {
    if constexpr (std::is_same_v<S, double>) {
      return x.squaredNorm();
    } else {
      return sum_products(x.data(), x.data(), x.size());
    }
  }
  static double norm(CView x) { return std::sqrt(squared_norm(x)); }
  static double dot(CView x, CView y) {
    if constexpr (std::is_same_v<S, double>) {
      return x.dot(y);
    } else {
      return sum_products(x.data(), y.data(), x.size());
    }
  }
  static bool all_finite(CView x) { return x.allFinite(); }

 private:
  static double sum_products(const S* x, const S* y, Eigen::Index n) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    Eigen::Index i = 0;
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; ++k)
        acc[k] += static_cast<double>(x[i + k]) * static_cast<double>(y[i + k]);
    for (; i < n; ++i) acc[0] += static_cast<double>(x[i]) * static_cast<double>(y[i]);
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  }
};

using EigenD = EigenBackend<double>;
using EigenF = EigenBackend<float>;

}  // namespace batchlab::optim
