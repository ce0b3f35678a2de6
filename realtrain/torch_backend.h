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
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <cstddef>

namespace batchlab::realtrain {

struct TorchBackend {
  using Scalar = float;
  using Buffer = torch::Tensor;
  using View = torch::Tensor;
  using CView = torch::Tensor;
  using Ref = const torch::Tensor&;

  // Functions take const references (no refcount traffic); torch's in-place ops are const
  // members of the handle, so `const` here does not mean read-only.
  // Contiguous (never strided like x) so that state buffers can be averaged through data_ptr().
  static Buffer zeros_like(Ref x) { return torch::zeros(x.sizes(), x.options()); }
  static std::size_t numel(Ref x) { return static_cast<std::size_t>(x.numel()); }
  static void copy(Ref src, Ref dst) { dst.copy_(src); }
  static void fill(Ref x, double value) { x.fill_(value); }
  static void scale(Ref y, double a) { y.mul_(a); }
  // y = a x + b y
  static void axpby(double a, Ref x, double b, Ref y) {
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
  static double min_value(Ref x) { return x.min().item<double>(); }
  static double squared_norm(Ref x) {
    return x.to(torch::kDouble).square().sum().item<double>();
  }
  static double norm(Ref x) { return std::sqrt(squared_norm(x)); }
  static double dot(Ref x, Ref y) {
    return (x.to(torch::kDouble) * y.to(torch::kDouble)).sum().item<double>();
  }
  static bool all_finite(Ref x) { return torch::isfinite(x).all().item<bool>(); }
};

}  // namespace batchlab::realtrain
