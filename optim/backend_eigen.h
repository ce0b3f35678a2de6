// The Eigen backend of the update rules: contiguous vectors of float or double.
//
// Every update rule in optim/ is a template over a *backend* B, a struct of static functions
// over three types:
//   B::Buffer  owned state (momentum, Adam moments), created by B::zeros_like
//   B::View    a mutable view of one parameter group (written in place)
//   B::CView   a read-only view (gradients are never written: logged gradient norms and
//              LARS trust ratios must see the gradient the model produced)
// The same rule code runs on torch tensors through realtrain/torch_backend.h, which provides
// the same functions; tests/realtrain checks the two agree. optim/backend.h states the contract
// as C++20 concepts.
//
// Matrix operations (Shampoo, optim/shampoo.h) see a flat buffer of rows * cols entries as a
// row-major matrix: the layout of a torch weight [out, in] (and of a conv kernel
// [out, in, kh, kw] flattened to out x (in kh kw)), so both backends agree on which entry is which.
#pragma once

#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <cmath>
#include <cstdint>
#include <type_traits>

namespace batchlab::optim {

template <class S>
struct EigenBackend {
  using Scalar = S;
  using Buffer = Eigen::Matrix<S, Eigen::Dynamic, 1>;
  using View = Eigen::Ref<Buffer>;
  using CView = Eigen::Ref<const Buffer>;

  static Buffer zeros_like(CView x) { return Buffer::Zero(x.size()); }
  // n zeros (a matrix's flat storage), on x's device for backends that have one.
  static Buffer zeros(std::int64_t n, CView /*like*/) { return Buffer::Zero(n); }
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
  // x += a (every entry)
  static void add_scalar(View x, double a) { x.array() += static_cast<S>(a); }
  // C = a op(A) op(B) + b C with op(A) m x k, op(B) k x n (op = transpose when the flag is set);
  // A is stored m x k (or k x m when transposed), all row-major. b = 0: C is not read.
  static void matmul(View C, double a, CView A, bool trans_a, CView Bm, bool trans_b, double b,
                     std::int64_t m, std::int64_t k, std::int64_t n) {
    const CMat Am(A.data(), trans_a ? k : m, trans_a ? m : k);
    const CMat Bmat(Bm.data(), trans_b ? n : k, trans_b ? k : n);
    Mat Cm(C.data(), m, n);
    Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> prod;
    if (trans_a && trans_b) prod.noalias() = Am.transpose() * Bmat.transpose();
    else if (trans_a) prod.noalias() = Am.transpose() * Bmat;
    else if (trans_b) prod.noalias() = Am * Bmat.transpose();
    else prod.noalias() = Am * Bmat;
    if (b == 0.0) Cm = static_cast<S>(a) * prod;
    else Cm = static_cast<S>(a) * prod + static_cast<S>(b) * Cm;
  }
  // out = (S + eps I)^(-1/root) for the symmetric n x n S, by a symmetric eigendecomposition
  // S = Q diag(l) Q' in double whatever the scalar is (a 4th root squares the condition
  // number's effect; float eigensolvers lose the small eigenvalues). Eigenvalues below 0
  // (rounding of a PSD statistic) are taken as 0, so eps > 0 bounds the result.
  static void sym_inverse_root(View out, CView Sm, std::int64_t n, double root, double eps) {
    const Eigen::MatrixXd Sd = CMat(Sm.data(), n, n).template cast<double>();
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(Sd);
    const Eigen::VectorXd l =
        (es.eigenvalues().array().max(0.0) + eps).pow(-1.0 / root).matrix();
    const Eigen::MatrixXd r = es.eigenvectors() * l.asDiagonal() * es.eigenvectors().transpose();
    Mat(out.data(), n, n) = r.cast<S>();
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
  using Mat = Eigen::Map<Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
  using CMat = Eigen::Map<const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

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
