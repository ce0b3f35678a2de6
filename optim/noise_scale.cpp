#include "optim/noise_scale.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "optim/config.h"
#include "optim/io.h"

namespace batchlab::optim {

NoiseScaleEstimator::NoiseScaleEstimator(double ema_decay) : decay_(ema_decay) {
  if (!(ema_decay >= 0.0 && ema_decay < 1.0))
    throw ConfigError("noise_scale.ema_decay = " + format_number(ema_decay) + ": must be in [0, 1)");
}

void NoiseScaleEstimator::update(double gs2, double bs, double gb2, double bb) {
  if (!(bs > 0.0 && bb > bs))
    throw std::invalid_argument("NoiseScaleEstimator: need 0 < small batch (" + std::to_string(bs) +
                                ") < big batch (" + std::to_string(bb) + ")");
  last_g2_ = (bb * gb2 - bs * gs2) / (bb - bs);
  last_tr_ = (gs2 - gb2) / (1.0 / bs - 1.0 / bb);
  ema_g2_ = decay_ * ema_g2_ + (1.0 - decay_) * last_g2_;
  ema_tr_ = decay_ * ema_tr_ + (1.0 - decay_) * last_tr_;
  weight_ = decay_ * weight_ + (1.0 - decay_);
  ++n_;
}

std::vector<double> NoiseScaleEstimator::save_state() const {
  return {ema_g2_, ema_tr_, last_g2_, last_tr_, weight_, static_cast<double>(n_)};
}

void NoiseScaleEstimator::restore_state(const std::vector<double>& s) {
  if (s.size() != 6 || !(s[5] >= 0.0) || s[5] != std::floor(s[5]))
    throw std::invalid_argument("NoiseScaleEstimator::restore_state: expected 6 values with a count >= 0, got " +
                                std::to_string(s.size()) + " values");
  ema_g2_ = s[0];
  ema_tr_ = s[1];
  last_g2_ = s[2];
  last_tr_ = s[3];
  weight_ = s[4];
  n_ = static_cast<std::int64_t>(s[5]);
}

double NoiseScaleEstimator::grad_sq() const {
  return n_ ? ema_g2_ / weight_ : std::numeric_limits<double>::quiet_NaN();
}
double NoiseScaleEstimator::trace_sigma() const {
  return n_ ? ema_tr_ / weight_ : std::numeric_limits<double>::quiet_NaN();
}
double NoiseScaleEstimator::b_simple() const {
  const double g2 = grad_sq();
  if (!(g2 > 0.0)) return std::numeric_limits<double>::quiet_NaN();
  return trace_sigma() / g2;
}

}  // namespace batchlab::optim
