// Pseudo-gradient quantisation for DiLoCo's outer all-reduce (Streaming DiLoCo, Douillard et
// al. 2025, sends pseudo-gradients in a few bits).
//
// Symmetric linear quantisation with one scale per tensor piece, b bits (b = 16, 8, 4):
//   L = 2^(b-1) - 1,   s = max_i |x_i| / L   (s = 0: the piece is all zeros and stays so)
//   nearest:     q_i = round(x_i / s)                    |s q_i - x_i| <= s / 2
//   stochastic:  q_i = floor(x_i / s + u_i), u_i ~ U[0,1) |s q_i - x_i| <  s,  E[s q_i] = x_i
//   dequantised  x^_i = s q_i, q_i in [-L, L]
// b = 32 means unquantised (float32 on the wire). The all-reduce that follows sums the
// dequantised values of every worker (what a receiver could rebuild from the b-bit codes and
// the scale), so the reported error is the error the outer step actually sees.
#pragma once

#include <cstdint>
#include <span>

#include "optim/sync_policy.h"

namespace batchlab::optim {

struct QuantError {
  double err_sq = 0.0;        // sum of (x^_i - x_i)^2
  double ref_sq = 0.0;        // sum of x_i^2
  double max_over_bound = 0.0;  // max_i |x^_i - x_i| / bound (bound: s/2 nearest, s stochastic)

  void merge(const QuantError& o);
  double relative() const;  // sqrt(err_sq / ref_sq), 0 for a zero reference
};

// Quantises x in place to `bits` and back (bits = 32: untouched). Stochastic rounding draws u_i
// from a counter-based hash of (seed, i), so every run and every process rounds alike.
QuantError quantize_dequantize(std::span<double> x, int bits, Rounding rounding, std::uint64_t seed);

// Wire bytes of n values at `bits` (plus a float32 scale when quantised).
std::int64_t quantized_bytes(std::int64_t n, int bits);

}  // namespace batchlab::optim
