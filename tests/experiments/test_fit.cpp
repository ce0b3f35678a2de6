// The critical-batch fit S(B) = S_min (1 + B_crit / B) recovers known parameters.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "experiments/engine/fit.h"

using namespace batchlab::experiments;

namespace {

std::vector<double> pow2(int lo, int hi) {
  std::vector<double> b;
  for (int e = lo; e <= hi; ++e) b.push_back(std::ldexp(1.0, e));
  return b;
}

}  // namespace

TEST(Fit, RecoversExactParametersFromNoiselessData) {
  const double s_min = 137.0, b_crit = 300.0;
  const auto b = pow2(2, 16);
  std::vector<double> s;
  for (double x : b) s.push_back(s_min * (1.0 + b_crit / x));
  const auto f = fit_critical_batch(b, s);
  ASSERT_TRUE(f.ok);
  EXPECT_TRUE(f.bounded);
  EXPECT_NEAR(f.b_crit / b_crit, 1.0, 1e-7);
  EXPECT_NEAR(f.s_min / s_min, 1.0, 1e-7);
  EXPECT_NEAR(f.e_min / (b_crit * s_min), 1.0, 1e-7);
  EXPECT_LT(f.rms_log_error, 1e-8);
  EXPECT_NEAR(f.knee_batch, 0.2 * f.b_crit, 1e-12);
  // At the knee the fitted curve is 1.2 x perfect scaling s_min b_crit / B.
  const double kb = f.knee_batch;
  EXPECT_NEAR(f.s_min * (1 + f.b_crit / kb) / (f.s_min * f.b_crit / kb), 1.2, 1e-12);
}

TEST(Fit, RecoversParametersFromNoisyData) {
  // 5% multiplicative noise: the estimates stay within a few percent over many draws.
  const double s_min = 50.0, b_crit = 2000.0;
  const auto b = pow2(1, 20);
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0.0, 0.05);
  double worst_b = 0.0, worst_s = 0.0, rms_sum = 0.0;
  const int draws = 50;
  for (int d = 0; d < draws; ++d) {
    std::vector<double> s;
    for (double x : b) s.push_back(s_min * (1.0 + b_crit / x) * std::exp(noise(rng)));
    const auto f = fit_critical_batch(b, s);
    ASSERT_TRUE(f.ok);
    worst_b = std::max(worst_b, std::abs(std::log(f.b_crit / b_crit)));
    worst_s = std::max(worst_s, std::abs(std::log(f.s_min / s_min)));
    rms_sum += f.rms_log_error;
  }
  EXPECT_LT(worst_b, 0.15);
  EXPECT_LT(worst_s, 0.1);
  // The rms residual estimates the noise level (0.05; slightly less: 2 fitted parameters of 20).
  EXPECT_NEAR(rms_sum / draws, 0.05 * std::sqrt(18.0 / 20.0), 0.01);
}

TEST(Fit, TheFitIsTheLeastSquaresMinimumInLogSpace) {
  // Any perturbation of (b_crit, s_min) raises the sum of squared log residuals.
  const std::vector<double> b = {4, 16, 64, 256, 1024, 4096};
  const std::vector<double> s = {900, 260, 80, 35, 22, 20};
  const auto f = fit_critical_batch(b, s);
  auto sse = [&](double bc, double sm) {
    double t = 0;
    for (std::size_t i = 0; i < b.size(); ++i) t += std::pow(std::log(s[i]) - std::log(sm * (1 + bc / b[i])), 2);
    return t;
  };
  const double best = sse(f.b_crit, f.s_min);
  EXPECT_NEAR(std::sqrt(best / 6), f.rms_log_error, 1e-12);
  for (double db : {0.99, 1.01})
    for (double ds : {0.99, 1.0, 1.01}) EXPECT_GT(sse(f.b_crit * db, f.s_min * ds), best);
}

TEST(Fit, PerfectScalingEverywhereIsFlaggedUnbounded) {
  const auto b = pow2(2, 10);
  std::vector<double> s;
  for (double x : b) s.push_back(1e6 / x);
  const auto f = fit_critical_batch(b, s);
  ASSERT_TRUE(f.ok);
  EXPECT_FALSE(f.bounded);
  EXPECT_GT(f.b_crit, 1e4 * b.back());
}

TEST(Fit, FewerThanTwoPointsIsNotAFit) {
  EXPECT_FALSE(fit_critical_batch({}, {}).ok);
  EXPECT_FALSE(fit_critical_batch({8}, {100}).ok);
  EXPECT_THROW(fit_critical_batch({8, 16}, {100}), std::invalid_argument);
  EXPECT_THROW(fit_critical_batch({8, 16}, {100, 0}), std::invalid_argument);
}

TEST(Fit, MeasuredKneeIsFirstBatchWhoseExamplesExceedTheSmallestBatchsBy20Percent) {
  // examples B S: 400, 400, 440 (10%), 480 (20%: not more), 520 (30%) -> knee at 64.
  const std::vector<double> b = {16, 4, 8, 32, 64};
  const std::vector<double> s = {27.5, 100, 50, 15, 8.125};
  EXPECT_DOUBLE_EQ(measured_knee(b, s), 64.0);
  EXPECT_DOUBLE_EQ(measured_knee({4, 8}, {100, 50}), 0.0);
}
