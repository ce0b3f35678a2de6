// The backend contract of the update rules (optim/backend_eigen.h, realtrain/torch_backend.h) as
// C++20 concepts, so a backend that misses an operation fails where it is declared, with the
// name of the requirement, instead of deep inside a rule template.
//
//   Backend<B>        the element-wise operations and reductions every rule uses
//   MatrixBackend<B>  plus the matrix operations of the curvature-aware rules (Shampoo): a flat
//                     buffer of rows * cols entries read as a row-major matrix, matmul, and the
//                     inverse root of a symmetric matrix by eigendecomposition
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

namespace batchlab::optim {

template <class B>
concept Backend = requires(typename B::View v, typename B::CView c, double a) {
  typename B::Scalar;
  typename B::Buffer;
  { B::zeros_like(c) } -> std::convertible_to<typename B::Buffer>;
  { B::numel(c) } -> std::convertible_to<std::size_t>;
  B::copy(c, v);
  B::fill(v, a);
  B::scale(v, a);
  B::axpby(a, c, a, v);
  B::addcmul(a, v, a, c, c);
  B::axpbypcz(a, c, a, c, a, v);
  B::add_scaled_pow(a, v, a, c, c, a);
  B::adam_direction(v, c, c, a, a, a);
  B::adam_moments(v, v, a, a, a, c, a, c);
  { B::squared_norm(c) } -> std::convertible_to<double>;
  { B::norm(c) } -> std::convertible_to<double>;
  { B::dot(c, c) } -> std::convertible_to<double>;
  { B::min_value(c) } -> std::convertible_to<double>;
  { B::all_finite(c) } -> std::convertible_to<bool>;
};

template <class B>
concept MatrixBackend =
    Backend<B> && requires(typename B::View v, typename B::CView c, double a, std::int64_t n,
                           bool t) {
      { B::zeros(n, c) } -> std::convertible_to<typename B::Buffer>;
      B::add_scalar(v, a);
      B::matmul(v, a, c, t, c, t, a, n, n, n);
      B::sym_inverse_root(v, c, n, a, a);
    };

}  // namespace batchlab::optim
