#include "optim/quantize.h"

#include <algorithm>
#include <cmath>

#include "optim/splitmix64.h"

namespace batchlab::optim {

void QuantError::merge(const QuantError& o) {
  err_sq += o.err_sq;
  ref_sq += o.ref_sq;
  max_over_bound = std::max(max_over_bound, o.max_over_bound);
}

double QuantError::relative() const { return ref_sq > 0.0 ? std::sqrt(err_sq / ref_sq) : 0.0; }

QuantError quantize_dequantize(std::span<double> x, int bits, Rounding rounding, std::uint64_t seed) {
  QuantError e;
  for (double v : x) e.ref_sq += v * v;
  if (bits >= 32) return e;
  const double levels = std::ldexp(1.0, bits - 1) - 1.0;
  double max_abs = 0.0;
  for (double v : x) max_abs = std::max(max_abs, std::abs(v));
  if (max_abs == 0.0) return e;
  const double s = max_abs / levels;
  const double bound = rounding == Rounding::kNearest ? 0.5 * s : s;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double y = x[i] / s;
    double q;
    if (rounding == Rounding::kNearest) {
      q = std::nearbyint(y);
    } else {
      // 53 random bits -> u in [0, 1).
      const double u = static_cast<double>(splitmix64(seed ^ splitmix64(i)) >> 11) * 0x1.0p-53;
      q = std::floor(y + u);
    }
    q = std::clamp(q, -levels, levels);
    const double d = s * q - x[i];
    e.err_sq += d * d;
    e.max_over_bound = std::max(e.max_over_bound, std::abs(d) / bound);
    x[i] = s * q;
  }
  return e;
}

std::int64_t quantized_bytes(std::int64_t n, int bits) {
  if (bits >= 32) return 4 * n;
  return (n * bits + 7) / 8 + 4;
}

}  // namespace batchlab::optim
