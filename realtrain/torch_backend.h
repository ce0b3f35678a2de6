// The torch backend of the update rules: the same static functions as optim/backend_eigen.h,
// over torch tensors (float32, CPU or CUDA), so every rule in optim/ runs unchanged as
// optim::Optimizer<TorchBackend>.
//
//   Buffer = View = CView = torch::Tensor   (a tensor handle: in-place ops write the caller's
//   storage; the rules only read a CView. CView cannot be `const torch::Tensor&` because the
//   Optimizer keeps views in std::vector, and a handle copy is a refcount increment.)
//
// Every mutating function works in place (`*_` ops), so a View handed in by the Optimizer
// (a parameter or a state buffer) is updated where it lives, on whatever device it lives.
// Reductions are accumulated in double and returned as double, like the Eigen backend, so LARS
// and LAMB trust ratios do not depend on the backend's float width. Callers step under
// torch::NoGradGuard (parameters are autograd leaves).
//
// Fused CPU paths: axpby (y = a x + b y) and axpbypcz (z = a x + b y + c z) are the whole update
// of SGD and of heavy-ball momentum (momentum.h: v <- m v + (1-d)(g + wd w); w <- w - lr v).
// Written as torch ops they are 2 and 3 passes over memory (mul_, add_, add_); on contiguous
// float32 CPU tensors they run here as one pass each, which is what an optimizer step over a
// few hundred thousand parameters is bound by. Same arithmetic (no reassociation beyond FMA
// contraction), other devices/dtypes/layouts take the torch-op path.
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace batchlab::realtrain {

struct TorchBackend {
  using Scalar = float;
  using Buffer = torch::Tensor;
  using View = torch::Tensor;
  using CView = torch::Tensor;
  using Ref = const torch::Tensor&;

  // Functions take const references (no refcount traffic); torch's in-place ops are const
  // members of the handle, so `const` here does not mean read-only.
  // Dense (never strided like a view x) so that state buffers can be averaged through data_ptr().
  // Dense tensors (any memory format) keep their layout, so fused elementwise paths apply.
  static Buffer zeros_like(Ref x) {
    if (x.is_non_overlapping_and_dense()) return torch::zeros_like(x, at::MemoryFormat::Preserve);
    return torch::zeros(x.sizes(), x.options());
  }
  // n zeros (a matrix's flat storage) with x's dtype and device.
  static Buffer zeros(std::int64_t n, Ref like) { return torch::zeros({n}, like.options()); }
  static std::size_t numel(Ref x) { return static_cast<std::size_t>(x.numel()); }
  static void copy(Ref src, Ref dst) { dst.copy_(src); }
  static void fill(Ref x, double value) { x.fill_(value); }
  static void scale(Ref y, double a) { y.mul_(a); }
  // y = a x + b y
  static void axpby(double a, Ref x, double b, Ref y) {
    if (fusable(x, y)) {
      const float* __restrict px = x.data_ptr<float>();
      float* __restrict py = y.data_ptr<float>();
      const float fa = static_cast<float>(a), fb = static_cast<float>(b);
      const std::int64_t n = y.numel();
      if (b == 1.0) {
        for (std::int64_t i = 0; i < n; ++i) py[i] += fa * px[i];
      } else {
        for (std::int64_t i = 0; i < n; ++i) py[i] = fb * py[i] + fa * px[i];
      }
      return;
    }
    if (b != 1.0) y.mul_(b);
    y.add_(x, a);
  }
  // y = b y + a x1 x2 (elementwise)
  static void addcmul(double b, Ref y, double a, Ref x1, Ref x2) {
    if (b != 1.0) y.mul_(b);
    y.addcmul_(x1, x2, a);
  }
  // out = (m ms) / (sqrt(v vs) + eps): the bias-corrected Adam direction.
  static void adam_direction(Ref out, Ref m, Ref v, double ms, double vs, double eps) {
    torch::Tensor denom = v.mul(vs).sqrt_().add_(eps);
    out.copy_(m).mul_(ms).div_(denom);
  }
  // y += a (m ms) / (sqrt(v vs) + eps)
  static void add_adam_direction(Ref y, double a, Ref m, Ref v, double ms, double vs,
                                 double eps) {
    torch::Tensor denom = v.mul(vs).sqrt_().add_(eps);
    y.add_(m.mul(ms).div_(denom), a);
  }
  // y = b y + a x1 / x2^p elementwise (diagonal preconditioning, x2 > 0)
  static void add_scaled_pow(double b, Ref y, double a, Ref x1, Ref x2, double p) {
    if (b != 1.0) y.mul_(b);
    y.add_(x1 * x2.pow(-p), a);
  }
  // z = a x + b y + c z  (b = 0: y is not read). One pass for momentum with L2 decay.
  static void axpbypcz(double a, Ref x, double b, Ref y, double c, Ref z) {
    if (fusable(x, z) && (b == 0.0 || fusable(y, z))) {
      const float* __restrict px = x.data_ptr<float>();
      float* __restrict pz = z.data_ptr<float>();
      const float fa = static_cast<float>(a), fc = static_cast<float>(c);
      const std::int64_t n = z.numel();
      if (b == 0.0) {
        for (std::int64_t i = 0; i < n; ++i) pz[i] = fc * pz[i] + fa * px[i];
      } else {
        // y may alias neither z nor x in the rules (it is w; z is a state buffer).
        const float* __restrict py = y.data_ptr<float>();
        const float fb = static_cast<float>(b);
        for (std::int64_t i = 0; i < n; ++i) pz[i] = fc * pz[i] + fa * px[i] + fb * py[i];
      }
      return;
    }
    if (c != 1.0) z.mul_(c);
    z.add_(x, a);
    if (b != 0.0) z.add_(y, b);
  }
  // Adam's moments for the direction d = a g + c w (c = 0: w is not read):
  //   m = b1 m + (1 - b1) d;   v = b2 v + (1 - b2) d^2
  // d is a temporary here (gradients are read-only); torch has no fused kernel for this.
  static void adam_moments(Ref m, Ref v, double b1, double b2, double a, Ref g, double c, Ref w) {
    torch::Tensor d = c == 0.0 ? g.mul(a) : g.mul(a).add_(w, c);
    m.mul_(b1).add_(d, 1.0 - b1);
    v.mul_(b2).addcmul_(d, d, 1.0 - b2);
  }
    // Both dense CPU float32 with the same sizes and strides (any memory format, e.g. channels-last
  // conv weights with their channels-last state), and out not aliasing in.
  static bool fusable(Ref in, Ref out) {
    return dense_cpu_float(in) && dense_cpu_float(out) && in.sizes() == out.sizes() &&
           in.strides() == out.strides() && in.data_ptr() != out.data_ptr();
  }
  // x += a (every entry)
  static void add_scalar(Ref x, double a) { x.add_(a); }
  // C = a op(A) op(B) + b C, the Eigen backend's matmul: every operand is read as the row-major
  // matrix of its logical (sizes) order, whatever its shape or memory format (a channels-last
  // conv kernel is read through reshape, which copies only when it must). b = 0: C is not read.
  static void matmul(Ref C, double a, Ref A, bool trans_a, Ref Bm, bool trans_b, double b,
                     std::int64_t m, std::int64_t k, std::int64_t n) {
    torch::Tensor Am = A.reshape({trans_a ? k : m, trans_a ? m : k});
    torch::Tensor Bt = Bm.reshape({trans_b ? n : k, trans_b ? k : n});
    torch::Tensor prod = torch::matmul(trans_a ? Am.t() : Am, trans_b ? Bt.t() : Bt);
    if (a != 1.0) prod.mul_(a);
    if (b != 0.0) prod.add_(C.reshape({m, n}), b);
    C.copy_(prod.view(C.sizes()));
  }
  // out = (S + eps I)^(-1/root) by a symmetric eigendecomposition in double (see the Eigen
  // backend: the same arithmetic, eigenvalues below 0 taken as 0).
  static void sym_inverse_root(Ref out, Ref S, std::int64_t n, double root, double eps) {
    const torch::Tensor Sd = S.reshape({n, n}).to(torch::kDouble);
    auto [l, Q] = torch::linalg::eigh(Sd, "L");
    l = l.clamp_min(0.0).add_(eps).pow_(-1.0 / root);
    const torch::Tensor r = torch::matmul(Q * l.unsqueeze(0), Q.t());
    out.copy_(r.to(out.scalar_type()).view(out.sizes()));
  }
  static double min_value(Ref x) { return x.min().item<double>(); }
  // Accumulated in double. On CPU float32 dense tensors in one pass with no temporaries (the
  // torch-op form converts to a double copy first: two allocations the size of x in double).
  static double squared_norm(Ref x) {
    if (dense_cpu_float(x)) return dot_f64(x.data_ptr<float>(), x.data_ptr<float>(), x.numel());
    return x.to(torch::kDouble).square().sum().item<double>();
  }
  static double norm(Ref x) { return std::sqrt(squared_norm(x)); }
  static double dot(Ref x, Ref y) {
    if (dense_cpu_float(x) && dense_cpu_float(y) && x.strides() == y.strides() && x.sizes() == y.sizes())
      return dot_f64(x.data_ptr<float>(), y.data_ptr<float>(), x.numel());
    return (x.to(torch::kDouble) * y.to(torch::kDouble)).sum().item<double>();
  }
  // sum_i x_i y_i in double; four partial sums (summation order is fixed: deterministic).
  static double dot_f64(const float* x, const float* y, std::int64_t n) {
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    std::int64_t i = 0;
    for (; i + 4 <= n; i += 4)
      for (int k = 0; k < 4; ++k)
        s[k] += static_cast<double>(x[i + k]) * static_cast<double>(y[i + k]);
    for (; i < n; ++i) s[0] += static_cast<double>(x[i]) * static_cast<double>(y[i]);
    return (s[0] + s[1]) + (s[2] + s[3]);
  }
  static bool dense_cpu_float(Ref x) {
    return x.device().is_cpu() && x.scalar_type() == torch::kFloat && x.is_non_overlapping_and_dense();
  }
  static bool all_finite(Ref x) { return torch::isfinite(x).all().item<bool>(); }
};

}  // namespace batchlab::realtrain
