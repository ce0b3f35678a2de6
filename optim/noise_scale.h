// Gradient noise scale estimator (McCandlish, Kaplan, Amodei et al. 2018, Appendix A.1).
//
// From the squared norms of a small-batch gradient |G_s|^2 (batch B_s) and a big-batch
// gradient |G_b|^2 (batch B_b > B_s), both unbiased:
//   |G|^2     ~ (B_b |G_b|^2 - B_s |G_s|^2) / (B_b - B_s)
//   tr(Sigma) ~ (|G_s|^2 - |G_b|^2) / (1/B_s - 1/B_b)
//   B_simple  = tr(Sigma) / |G|^2
// Single-step estimates are noisy and can be negative, so an exponential moving average is
// kept on the numerator and the denominator separately, and only their ratio is reported.
// In data parallelism: small = one worker's gradient, big = the all-reduced gradient.
#pragma once

#include <cstdint>
#include <vector>

namespace batchlab::optim {

class NoiseScaleEstimator {
 public:
  // ema_decay in [0, 1): weight of the history (0 = last estimate only). Throws ConfigError.
  explicit NoiseScaleEstimator(double ema_decay = 0.99);

  // One observation. Returns nothing; query the accessors.
  void update(double small_sq_norm, double small_batch, double big_sq_norm, double big_batch);

  // Unbiased single-step estimates from the last update.
  double last_grad_sq() const { return last_g2_; }
  double last_trace_sigma() const { return last_tr_; }
  // Bias-corrected EMAs (as Adam's: divided by 1 - decay^n).
  double grad_sq() const;
  double trace_sigma() const;
  // tr(Sigma) / |G|^2 from the EMAs; NaN before the first update or if |G|^2 EMA <= 0.
  double b_simple() const;
  std::int64_t count() const { return n_; }

  // The whole state, for checkpoints: a restored estimator continues exactly where the saved
  // one stopped. Order: ema |G|^2, ema tr(Sigma), last |G|^2, last tr(Sigma), 1 - decay^n, n.
  std::vector<double> save_state() const;
  // Throws std::invalid_argument unless `state` came from save_state() (6 values, n >= 0).
  void restore_state(const std::vector<double>& state);

 private:
  double decay_;
  double ema_g2_ = 0.0, ema_tr_ = 0.0;
  double last_g2_ = 0.0, last_tr_ = 0.0;
  double weight_ = 0.0;  // 1 - decay^n
  std::int64_t n_ = 0;
};

}  // namespace batchlab::optim
