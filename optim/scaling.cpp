#include "optim/scaling.h"

#include <algorithm>
#include <cmath>

#include "optim/config.h"
#include "optim/io.h"

namespace batchlab::optim {

ScalingKind parse_scaling(const std::string& n) {
  if (n == "none") return ScalingKind::kNone;
  if (n == "linear") return ScalingKind::kLinear;
  if (n == "sqrt") return ScalingKind::kSqrt;
  if (n == "malladi") return ScalingKind::kMalladi;
  throw ConfigError("scaling rule '" + n + "': unknown (none, linear, sqrt, malladi)");
}

std::string to_string(ScalingKind k) {
  switch (k) {
    case ScalingKind::kNone: return "none";
    case ScalingKind::kLinear: return "linear";
    case ScalingKind::kSqrt: return "sqrt";
    case ScalingKind::kMalladi: return "malladi";
  }
  return "?";
}

ScaledHyper ScalingRule::apply(double b, double lr_ref, double beta1, double beta2,
                               double eps) const {
  if (!(batch_ref > 0.0)) throw ConfigError("scaling.batch_ref = " + format_number(batch_ref) + ": must be > 0");
  if (!(b > 0.0)) throw ConfigError("batch_size = " + format_number(b) + ": must be > 0");
  const double k = b / batch_ref;
  ScaledHyper h{lr_ref, beta1, beta2, eps};
  switch (kind) {
    case ScalingKind::kNone: break;
    case ScalingKind::kLinear: h.lr = lr_ref * k; break;
    case ScalingKind::kSqrt: h.lr = lr_ref * std::sqrt(k); break;
    case ScalingKind::kMalladi:
      h.lr = lr_ref * std::sqrt(k);
      h.beta1 = std::clamp(1.0 - k * (1.0 - beta1), 0.0, 1.0 - 1e-12);
      h.beta2 = std::clamp(1.0 - k * (1.0 - beta2), 0.0, 1.0 - 1e-12);
      h.eps = eps / std::sqrt(k);
      break;
  }
  if (max_lr > 0.0) h.lr = std::min(h.lr, max_lr);
  return h;
}

}  // namespace batchlab::optim
