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

// ---- bootstrap intervals (issue 11 part 3) ----

namespace {

// S(B) = s_min (1 + b_crit / B) with multiplicative log-normal noise, `seeds` draws per batch.
std::vector<std::vector<double>> noisy_seeds(const std::vector<double>& b, double s_min, double b_crit, int seeds,
                                             double sigma, std::uint64_t rng_seed) {
  std::mt19937_64 rng(rng_seed);
  std::normal_distribution<double> noise(0.0, sigma);
  std::vector<std::vector<double>> out;
  for (double x : b) {
    out.emplace_back();
    for (int k = 0; k < seeds; ++k) out.back().push_back(s_min * (1.0 + b_crit / x) * std::exp(noise(rng)));
  }
  return out;
}

}  // namespace

TEST(Bootstrap, IntervalsOverSeedsCoverTheTruthAndNarrowWithMoreSeeds) {
  const double s_min = 200.0, b_crit = 256.0;
  const auto b = pow2(2, 14);
  int covered = 0;
  double width3 = 0.0, width15 = 0.0;
  for (int rep = 0; rep < 20; ++rep) {
    const auto few = noisy_seeds(b, s_min, b_crit, 3, 0.1, 100 + rep);
    const auto many = noisy_seeds(b, s_min, b_crit, 15, 0.1, 200 + rep);
    const FitInterval a = bootstrap_critical_batch(b, few, {.replicates = 300});
    const FitInterval c = bootstrap_critical_batch(b, many, {.replicates = 300});
    ASSERT_TRUE(a.ok && c.ok);
    EXPECT_STREQ(a.over, "seeds");
    EXPECT_LE(a.b_crit_lo, a.b_crit_hi);
    EXPECT_LE(a.s_min_lo, a.s_min_hi);
    EXPECT_DOUBLE_EQ(a.knee_lo, 0.2 * a.b_crit_lo);
    covered += c.b_crit_lo <= b_crit && b_crit <= c.b_crit_hi;
    width3 += std::log(a.b_crit_hi / a.b_crit_lo);
    width15 += std::log(c.b_crit_hi / c.b_crit_lo);
  }
  EXPECT_GE(covered, 15);  // nominal 95%: 19 of 20 expected; a bootstrap percentile interval runs a little short
  EXPECT_LT(width15, width3);  // ~ sqrt(5) narrower
}

TEST(Bootstrap, OneSeedResamplesTheBatchSizePointsAndNeedsThree) {
  const auto b = pow2(2, 12);
  const auto one = noisy_seeds(b, 100.0, 64.0, 1, 0.05, 7);
  const FitInterval ci = bootstrap_critical_batch(b, one);
  ASSERT_TRUE(ci.ok);
  EXPECT_STREQ(ci.over, "batch_sizes");
  EXPECT_LT(ci.b_crit_lo, 64.0 * 1.5);
  EXPECT_GT(ci.b_crit_hi, 64.0 / 1.5);
  const std::vector<double> two_b = {4, 8};
  EXPECT_FALSE(bootstrap_critical_batch(two_b, {{10.0}, {6.0}}).ok);
}

TEST(Bootstrap, IsReproducibleAndDependsOnItsSeed) {
  const auto b = pow2(2, 12);
  const auto data = noisy_seeds(b, 100.0, 64.0, 4, 0.1, 9);
  const FitInterval x = bootstrap_critical_batch(b, data), y = bootstrap_critical_batch(b, data);
  EXPECT_EQ(x.b_crit_lo, y.b_crit_lo);
  EXPECT_EQ(x.s_min_hi, y.s_min_hi);
  const FitInterval z = bootstrap_critical_batch(b, data, {.seed = 1});
  EXPECT_NE(x.b_crit_lo, z.b_crit_lo);
}

TEST(Bootstrap, SeedsThatDidNotReachCountAsInfinityInTheMedian) {
  // At B = 4096 no seed reaches: every draw's median is +inf, so no replicate fits that batch
  // size, and a 1-step seed elsewhere outvoted by two seeds that never reach is left out too.
  const auto b = pow2(2, 12);
  auto data = noisy_seeds(b, 100.0, 64.0, 3, 0.05, 11);
  data.back() = {INFINITY, INFINITY, INFINITY};
  const FitInterval with_inf = bootstrap_critical_batch(b, data);
  ASSERT_TRUE(with_inf.ok);
  EXPECT_GT(with_inf.s_min_lo, 80.0);
  EXPECT_LT(with_inf.s_min_hi, 120.0);
}

TEST(Quantile, MatchesNumpysLinearInterpolation) {
  // numpy.quantile([1, 2, 4, 8], [0, 0.25, 0.5, 0.9, 1]) = [1, 1.75, 3, 6.8, 8]
  const std::vector<double> v = {8, 1, 4, 2};
  EXPECT_DOUBLE_EQ(quantile(v, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(quantile(v, 0.25), 1.75);
  EXPECT_DOUBLE_EQ(quantile(v, 0.5), 3.0);
  EXPECT_NEAR(quantile(v, 0.9), 6.8, 1e-12);
  EXPECT_DOUBLE_EQ(quantile(v, 1.0), 8.0);
}

TEST(PowerLaw, RecoversKaplansBCritOfL) {
  // B_crit(L) = B* / L^(1/alpha_B) with Kaplan et al.'s alpha_B = 0.21 and B* = 2e8.
  std::vector<double> l = {2.0, 2.5, 3.0, 4.0}, bc;
  for (double x : l) bc.push_back(2e8 / std::pow(x, 1.0 / 0.21));
  const PowerLawFit f = fit_b_crit_vs_target(l, bc);
  ASSERT_TRUE(f.ok);
  EXPECT_NEAR(f.alpha_b, 0.21, 1e-12);
  EXPECT_NEAR(f.b_star / 2e8, 1.0, 1e-10);
  EXPECT_LT(f.rms_log_error, 1e-10);
  EXPECT_FALSE(fit_b_crit_vs_target({2.0}, {10.0}).ok);
  EXPECT_FALSE(fit_b_crit_vs_target({2.0, 3.0}, {10.0, 10.0}).ok);  // flat: no finite alpha_B
}
