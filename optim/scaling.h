// Batch-size scaling rules: from a reference (B_ref, lr_ref) to the hyperparameters at batch B.
//
//   none:    lr = lr_ref
//   linear:  lr = lr_ref k,        k = B / B_ref            (Goyal et al. 2017)
//   sqrt:    lr = lr_ref sqrt(k)                              (Krizhevsky 2014; Hoffer et al. 2017)
//   malladi: lr = lr_ref sqrt(k), 1 - beta_i -> k (1 - beta_i), eps -> eps / sqrt(k)
//            (Malladi et al. 2022, square-root SDE scaling for Adam; betas clamped to [0, 1))
// An optional max_lr caps the result.
#pragma once

#include <string>

namespace batchlab::optim {

enum class ScalingKind { kNone, kLinear, kSqrt, kMalladi };

ScalingKind parse_scaling(const std::string& name);  // throws ConfigError
std::string to_string(ScalingKind k);

struct ScaledHyper {
  double lr;
  double beta1;
  double beta2;
  double eps;
};

struct ScalingRule {
  ScalingKind kind = ScalingKind::kNone;
  double batch_ref = 1.0;  // B_ref
  double max_lr = 0.0;     // 0 = no cap

  // lr (and, for malladi, the Adam betas and eps) at batch_size.
  ScaledHyper apply(double batch_size, double lr_ref, double beta1 = 0.9, double beta2 = 0.999,
                    double eps = 1e-8) const;
  double lr(double batch_size, double lr_ref) const { return apply(batch_size, lr_ref).lr; }
};

}  // namespace batchlab::optim
