// Kernels of the teacher-student MLP: equations and sources in sim/mlp_kernels.h.
#include "sim/mlp_kernels.h"

#include <algorithm>
#include <climits>
#include <cstring>

// Each kernel body (an always_inline template) is compiled twice: for AVX2 + FMA and for the
// default ISA; the entry points pick one by CPU features, once per process. (target_clones
// with "arch=x86-64-v3" dispatches on the CPU model and never picks AMD parts; a feature list
// such as "avx2" cannot also ask for FMA.)
// The 32-byte vector helpers are internal and always inlined: no vector crosses a call boundary,
// so GCC's note about the AVX argument-passing ABI does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"
#define BATCHLAB_INLINE inline __attribute__((always_inline))
#define BATCHLAB_AVX2 __attribute__((target("avx2,fma")))

namespace batchlab::sim::mlpk {
namespace {

using i64 = std::int64_t;

// GCC vector extensions: 4 doubles (one AVX register, or two SSE2 ones in the default build).
typedef double v4 __attribute__((vector_size(32)));
typedef long long v4i __attribute__((vector_size(32)));

BATCHLAB_INLINE v4 load4(const double* p) {
  v4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
BATCHLAB_INLINE void store4(double* p, v4 v) { std::memcpy(p, &v, sizeof v); }
BATCHLAB_INLINE v4 splat(double x) { return v4{x, x, x, x}; }

// C[0:4 MV, 0:NR] = bias + A[0:4 MV, :] op(B)[:, 0:NR]; op(B)(p, j) = b[p + j ldb] or,
// transposed, b[j + p ldb]. The MV x NR vector accumulators stay in registers; each entry is
// summed over p in increasing order.
template <int MV, int NR, bool TransB>
BATCHLAB_INLINE void tile_v(i64 k, const double* __restrict a, i64 lda, const double* __restrict b,
                            i64 ldb, double* __restrict c, i64 ldc, const double* __restrict bias) {
  v4 acc[NR][MV];
#pragma GCC unroll 8
  for (int v = 0; v < MV; ++v) {
    const v4 init = bias != nullptr ? load4(bias + 4 * v) : splat(0.0);
#pragma GCC unroll 8
    for (int jj = 0; jj < NR; ++jj) acc[jj][v] = init;
  }
  for (i64 p = 0; p < k; ++p) {
    v4 av[MV];
#pragma GCC unroll 8
    for (int v = 0; v < MV; ++v) av[v] = load4(a + p * lda + 4 * v);
#pragma GCC unroll 8
    for (int jj = 0; jj < NR; ++jj) {
      const double bv = TransB ? b[jj + p * ldb] : b[p + jj * ldb];
#pragma GCC unroll 8
      for (int v = 0; v < MV; ++v) acc[jj][v] += av[v] * bv;
    }
  }
#pragma GCC unroll 8
  for (int jj = 0; jj < NR; ++jj)
#pragma GCC unroll 8
    for (int v = 0; v < MV; ++v) store4(c + jj * ldc + 4 * v, acc[jj][v]);
}

// The same for one row (the rows left over after the 4-row tiles).
template <int NR, bool TransB>
BATCHLAB_INLINE void tile_row(i64 k, const double* __restrict a, i64 lda, const double* __restrict b,
                              i64 ldb, double* __restrict c, i64 ldc, const double* __restrict bias) {
  double acc[NR];
#pragma GCC unroll 8
  for (int jj = 0; jj < NR; ++jj) acc[jj] = bias != nullptr ? *bias : 0.0;
  for (i64 p = 0; p < k; ++p) {
    const double av = a[p * lda];
#pragma GCC unroll 8
    for (int jj = 0; jj < NR; ++jj) acc[jj] += av * (TransB ? b[jj + p * ldb] : b[p + jj * ldb]);
  }
#pragma GCC unroll 8
  for (int jj = 0; jj < NR; ++jj) c[jj * ldc] = acc[jj];
}

// Columns j0 .. j0 + NR - 1 of C, every row: tiles of 8 rows, then 4, then single rows.
template <int NR, bool TransB>
BATCHLAB_INLINE void column_block(i64 m, i64 k, const double* a, i64 lda, const double* b, i64 ldb,
                                  double* c, i64 ldc, const double* bias) {
  i64 i = 0;
  for (; i + 8 <= m; i += 8)
    tile_v<2, NR, TransB>(k, a + i, lda, b, ldb, c + i, ldc, bias != nullptr ? bias + i : nullptr);
  if (i + 4 <= m) {
    tile_v<1, NR, TransB>(k, a + i, lda, b, ldb, c + i, ldc, bias != nullptr ? bias + i : nullptr);
    i += 4;
  }
  for (; i < m; ++i)
    tile_row<NR, TransB>(k, a + i, lda, b, ldb, c + i, ldc, bias != nullptr ? bias + i : nullptr);
}

template <bool TransB>
BATCHLAB_INLINE void gemm(i64 m, i64 n, i64 k, const double* a, i64 lda, const double* b, i64 ldb,
                          double* c, i64 ldc, const double* bias) {
  // Column j of op(B) starts at b + j ldb, or at b + j when transposed.
  const i64 bstep = TransB ? 1 : ldb;
  i64 j = 0;
  for (; j + 4 <= n; j += 4) column_block<4, TransB>(m, k, a, lda, b + j * bstep, ldb, c + j * ldc, ldc, bias);
  for (; j < n; ++j) column_block<1, TransB>(m, k, a, lda, b + j * bstep, ldb, c + j * ldc, ldc, bias);
}

BATCHLAB_INLINE v4 tanh4(v4 t) {
  // Cephes tanh.c coefficients: tanh(x) = x + x z P(z) / Q(z), z = x^2, for |x| < 0.625.
  constexpr double P0 = -9.64399179425052238628e-1, P1 = -9.92877231001918586564e1,
                   P2 = -1.61468768441708447952e3;
  constexpr double Q0 = 1.12811678491632931402e2, Q1 = 2.23548839060100448583e3,
                   Q2 = 4.84406305325125486048e3;
  constexpr double kLog2e = 1.4426950408889634074;
  constexpr double kLn2Hi = 6.93145751953125e-1;       // few bits: k kLn2Hi is exact
  constexpr double kLn2Lo = 1.42860682030941723212e-6;  // ln 2 - kLn2Hi
  constexpr double kShift = 6755399441055744.0;         // 1.5 2^52: rounds to an integer
  // Cephes exp.c: exp(r) = 1 + 2 r P(r^2) / (Q(r^2) - r P(r^2)) for |r| <= ln2 / 2.
  constexpr double kExpP0 = 1.26177193074810590878e-4, kExpP1 = 3.02994407707441961300e-2,
                   kExpP2 = 9.99999999999999999910e-1;
  constexpr double kExpQ0 = 3.00198505138664455042e-6, kExpQ1 = 2.52448340349684104192e-3,
                   kExpQ2 = 2.27265548208155028766e-1, kExpQ3 = 2.00000000000000000009e0;
  const v4i sign = {INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN};
  const v4 ax = reinterpret_cast<v4>(reinterpret_cast<v4i>(t) & ~sign);
  // |x| < 0.625
  const v4 z = t * t;
  const v4 num = (P0 * z + P1) * z + P2;
  const v4 den = ((z + Q0) * z + Q1) * z + Q2;
  // |x| >= 0.625: y = 2 |x| clamped to [1.25, 40]; exp(y) = 2^k exp(r).
  const v4 y = 2.0 * (ax > splat(20.0) ? splat(20.0) : ax);
  const v4 kd = y * kLog2e + kShift;  // low mantissa bits hold k = round(y / ln 2)
  const v4 kf = kd - kShift;
  const v4 r = (y - kf * kLn2Hi) - kf * kLn2Lo;
  // exp(r) = (Q(r^2) + r P(r^2)) / (Q(r^2) - r P(r^2)): Cephes exp.c's Pade form, kept as N / D.
  const v4 rr = r * r;
  const v4 pr = r * ((kExpP0 * rr + kExpP1) * rr + kExpP2);
  const v4 qr = ((kExpQ0 * rr + kExpQ1) * rr + kExpQ2) * rr + kExpQ3;
  const v4 num_e = qr + pr, den_e = qr - pr;
  // 2^k N: k (0..58) added to N's exponent field; the magic number's high bits shift out.
  const v4 num_k = reinterpret_cast<v4>(reinterpret_cast<v4i>(num_e) + (reinterpret_cast<v4i>(kd) << 52));
  // One division serves both branches: P/Q below 0.625, 2 / (exp(2|x|) + 1) = 2 D / (2^k N + D) above.
  const v4i is_small = ax < splat(0.625);
  const v4 q = (is_small ? num : 2.0 * den_e) / (is_small ? den : num_k + den_e);
  const v4 small = t + t * z * q;
  const v4 big = 1.0 - q;
  const v4 large = reinterpret_cast<v4>(reinterpret_cast<v4i>(big) | (reinterpret_cast<v4i>(t) & sign));
  const v4 v = is_small ? small : large;
  return t == t ? v : t;  // NaN in, NaN out (the bit arithmetic above means nothing for NaN)
}

BATCHLAB_INLINE void tanh_body(i64 n, double* __restrict x) {
  i64 i = 0;
  for (; i + 4 <= n; i += 4) store4(x + i, tanh4(load4(x + i)));
  if (i < n) {
    double tail[4] = {0.0, 0.0, 0.0, 0.0};
    std::copy(x + i, x + n, tail);
    store4(tail, tanh4(load4(tail)));
    std::copy(tail, tail + (n - i), x + i);
  }
}

BATCHLAB_INLINE void tanh_backward_body(i64 n, const double* __restrict da, const double* __restrict a,
                                        double* __restrict dz) {
  for (i64 i = 0; i < n; ++i) dz[i] = da[i] * (1.0 - a[i] * a[i]);
}

#define BATCHLAB_KERNELS(ATTR, SUFFIX)                                                            \
  ATTR void gemm_nn_##SUFFIX(i64 m, i64 n, i64 k, const double* a, i64 lda, const double* b,      \
                             i64 ldb, double* c, i64 ldc, const double* bias) {                   \
    gemm<false>(m, n, k, a, lda, b, ldb, c, ldc, bias);                                          \
  }                                                                                               \
  ATTR void gemm_nt_##SUFFIX(i64 m, i64 n, i64 k, const double* a, i64 lda, const double* b,      \
                             i64 ldb, double* c, i64 ldc) {                                       \
    gemm<true>(m, n, k, a, lda, b, ldb, c, ldc, nullptr);                                        \
  }                                                                                               \
  ATTR void tanh_##SUFFIX(i64 n, double* x) { tanh_body(n, x); }                                  \
  ATTR void tanh_backward_##SUFFIX(i64 n, const double* da, const double* a, double* dz) {        \
    tanh_backward_body(n, da, a, dz);                                                             \
  }

BATCHLAB_KERNELS(BATCHLAB_AVX2, avx2)
BATCHLAB_KERNELS(, base)

struct Kernels {
  decltype(&gemm_nn_base) gemm_nn;
  decltype(&gemm_nt_base) gemm_nt;
  decltype(&tanh_base) tanh;
  decltype(&tanh_backward_base) tanh_backward;
};

constexpr Kernels kAvx2{gemm_nn_avx2, gemm_nt_avx2, tanh_avx2, tanh_backward_avx2};
constexpr Kernels kBase{gemm_nn_base, gemm_nt_base, tanh_base, tanh_backward_base};

bool cpu_has_avx2_fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// Chosen once (thread-safe static initialisation); tests may switch it with select_isa.
const Kernels* g_kernels = nullptr;

const Kernels& kernels() {
  static const bool init = [] {
    if (g_kernels == nullptr) g_kernels = cpu_has_avx2_fma() ? &kAvx2 : &kBase;
    return true;
  }();
  (void)init;
  return *g_kernels;
}

}  // namespace

bool select_isa(bool avx2) {
  kernels();
  if (avx2 && !cpu_has_avx2_fma()) return false;
  g_kernels = avx2 ? &kAvx2 : &kBase;
  return true;
}
bool using_avx2() { return &kernels() == &kAvx2; }

void gemm_nn(i64 m, i64 n, i64 k, const double* a, i64 lda, const double* b, i64 ldb, double* c,
             i64 ldc, const double* bias) {
  kernels().gemm_nn(m, n, k, a, lda, b, ldb, c, ldc, bias);
}
void gemm_nt(i64 m, i64 n, i64 k, const double* a, i64 lda, const double* b, i64 ldb, double* c,
             i64 ldc) {
  kernels().gemm_nt(m, n, k, a, lda, b, ldb, c, ldc);
}
void tanh_inplace(i64 n, double* x) { kernels().tanh(n, x); }
void tanh_backward(i64 n, const double* da, const double* a, double* dz) {
  kernels().tanh_backward(n, da, a, dz);
}

}  // namespace batchlab::sim::mlpk
