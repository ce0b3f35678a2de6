// Dense kernels of the teacher-student MLP (sim/mlp.cpp): small column-major GEMMs and the
// tanh nonlinearity, written as plain loops so that GCC vectorises them, and compiled twice by
// function multiversioning by hand (target("avx2,fma") and the default ISA, one picked by CPU
// features at first use), so a given machine always runs the same code and results are
// deterministic for a seed. Every matrix is column-major with an explicit leading dimension.
//
//   gemm_nn:  C = A B (+ bias broadcast over the columns)   A: m x k, B: k x n, C: m x n
//   gemm_nt:  C = A B'                                       A: m x k, B: n x k, C: m x n
//   Each C entry is one sum over p = 0..k-1 in increasing p (register-blocked 8 x 4 tiles).
//   tanh_inplace: x <- tanh(x), Cephes' tanh (Moshier 1989, "Methods and Programs for
//     Mathematical Functions", tanh.c): |x| < 0.625: x + x z P(z)/Q(z), z = x^2 (a (2,3)
//     rational minimax fit); otherwise sign(x) (1 - 2 / (exp(2|x|) + 1)), |x| clamped at 20
//     (tanh(20) rounds to 1); exp(y) = 2^k exp(r), k = round(y / ln 2), r = y - k ln 2 in two
//     parts (Cody & Waite 1980), exp(r) = (Q(r^2) + r P(r^2)) / (Q(r^2) - r P(r^2)) (Cephes
//     exp.c's Pade form), so 2 / (exp(y) + 1) = 2 D / (2^k N + D) and both branches share one
//     division. Max error vs std::tanh a few ulp (tests/sim/test_mlp.cpp); NaN stays NaN,
//     +-inf gives +-1.
//   tanh_backward: dz = da (1 - a^2), the derivative of tanh written with its output a.
#pragma once

#include <cstdint>

namespace batchlab::sim::mlpk {

void gemm_nn(std::int64_t m, std::int64_t n, std::int64_t k, const double* a, std::int64_t lda,
             const double* b, std::int64_t ldb, double* c, std::int64_t ldc, const double* bias);
void gemm_nt(std::int64_t m, std::int64_t n, std::int64_t k, const double* a, std::int64_t lda,
             const double* b, std::int64_t ldb, double* c, std::int64_t ldc);
void tanh_inplace(std::int64_t n, double* x);
void tanh_backward(std::int64_t n, const double* da, const double* a, double* dz);

// Which build the kernels above run: the AVX2 + FMA one when the CPU has both (chosen at first
// use). select_isa switches for tests (not thread-safe; false when avx2 is asked but missing).
bool using_avx2();
bool select_isa(bool avx2);

}  // namespace batchlab::sim::mlpk
