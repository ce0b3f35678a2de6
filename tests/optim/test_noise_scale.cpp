// The noise-scale estimator (McCandlish et al. 2018, App. A.1) on a Gaussian gradient model
// whose |G|^2 and tr(Sigma) are known: per-example gradients G + xi, xi ~ N(0, diag(sigma^2)).
// Small batch = one worker's mean of B_s examples, big batch = the mean over K workers.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "optim/config.h"
#include "optim/noise_scale.h"

using namespace batchlab::optim;

namespace {

struct Model {
  std::vector<double> G, sigma;
  double grad_sq() const {
    double s = 0;
    for (double g : G) s += g * g;
    return s;
  }
  double trace() const {
    double s = 0;
    for (double x : sigma) s += x * x;
    return s;
  }
};

Model make_model(int d) {
  Model m;
  for (int i = 0; i < d; ++i) {
    m.G.push_back(0.3 * std::cos(0.7 * i));     // |G|^2 ~ d * 0.045
    m.sigma.push_back(0.5 + 0.05 * (i % 7));    // tr(Sigma) ~ d * 0.45
  }
  return m;
}

TEST(NoiseScale, RecoversGradSqAndTraceOnAGaussianModel) {
  const int d = 20, Bs = 4, K = 8, Bb = Bs * K, N = 20000;
  const Model model = make_model(d);
  std::mt19937_64 rng(12345);
  std::normal_distribution<double> normal;
  NoiseScaleEstimator est(0.999);
  double sum_g2 = 0, sumsq_g2 = 0, sum_tr = 0, sumsq_tr = 0;
  for (int n = 0; n < N; ++n) {
    std::vector<double> big(d, 0.0), small(d, 0.0);
    for (int k = 0; k < K; ++k)
      for (int b = 0; b < Bs; ++b)
        for (int i = 0; i < d; ++i) {
          const double x = model.G[i] + model.sigma[i] * normal(rng);
          big[i] += x / Bb;
          if (k == 0) small[i] += x / Bs;  // worker 0's gradient is the small batch
        }
    double s2 = 0, b2 = 0;
    for (int i = 0; i < d; ++i) {
      s2 += small[i] * small[i];
      b2 += big[i] * big[i];
    }
    est.update(s2, Bs, b2, Bb);
    sum_g2 += est.last_grad_sq();
    sumsq_g2 += est.last_grad_sq() * est.last_grad_sq();
    sum_tr += est.last_trace_sigma();
    sumsq_tr += est.last_trace_sigma() * est.last_trace_sigma();
  }
  // Unbiased single-step estimates: the mean over N steps is within 4 standard errors.
  const double mean_g2 = sum_g2 / N, mean_tr = sum_tr / N;
  const double se_g2 = std::sqrt((sumsq_g2 / N - mean_g2 * mean_g2) / N);
  const double se_tr = std::sqrt((sumsq_tr / N - mean_tr * mean_tr) / N);
  EXPECT_NEAR(mean_g2, model.grad_sq(), 4 * se_g2);
  EXPECT_NEAR(mean_tr, model.trace(), 4 * se_tr);
  EXPECT_LT(se_g2, 0.05 * model.grad_sq());  // the test has power: the error bars are small
  EXPECT_LT(se_tr, 0.02 * model.trace());
  // The EMAs (decay 0.999, ~2000 effective samples) land within 15% / 5%, and so B_simple
  // = tr(Sigma) / |G|^2 within 20%.
  EXPECT_NEAR(est.grad_sq(), model.grad_sq(), 0.15 * model.grad_sq());
  EXPECT_NEAR(est.trace_sigma(), model.trace(), 0.05 * model.trace());
  const double b_simple = model.trace() / model.grad_sq();
  EXPECT_NEAR(est.b_simple(), b_simple, 0.2 * b_simple);
  EXPECT_EQ(est.count(), N);
}

TEST(NoiseScale, SingleStepAlgebraAndBiasCorrectedEma) {
  NoiseScaleEstimator est(0.5);
  EXPECT_TRUE(std::isnan(est.b_simple()));
  // |G_s|^2 = 3 at B_s = 2, |G_b|^2 = 1.5 at B_b = 8:
  // |G|^2 = (8 * 1.5 - 2 * 3) / 6 = 1;  tr = (3 - 1.5) / (1/2 - 1/8) = 4
  est.update(3.0, 2, 1.5, 8);
  EXPECT_DOUBLE_EQ(est.last_grad_sq(), 1.0);
  EXPECT_DOUBLE_EQ(est.last_trace_sigma(), 4.0);
  EXPECT_DOUBLE_EQ(est.grad_sq(), 1.0);  // bias correction: one sample gives itself
  EXPECT_DOUBLE_EQ(est.b_simple(), 4.0);
  // Second: |G|^2 = (8 * 2 - 2 * 2) / 6 = 2, tr = 0. EMA (0.5 * 1 + 0.5 * 2) / (1 - 0.25)
  est.update(2.0, 2, 2.0, 8);
  EXPECT_DOUBLE_EQ(est.grad_sq(), (0.25 * 1.0 + 0.5 * 2.0) / 0.75);
  EXPECT_DOUBLE_EQ(est.trace_sigma(), (0.25 * 4.0 + 0.5 * 0.0) / 0.75);
  // The ratio of EMAs, not the EMA of ratios (which would be (4 + 0)/2 weighted).
  EXPECT_DOUBLE_EQ(est.b_simple(), est.trace_sigma() / est.grad_sq());
}

TEST(NoiseScale, RejectsBadSettings) {
  EXPECT_THROW(NoiseScaleEstimator(1.0), ConfigError);
  EXPECT_THROW(NoiseScaleEstimator(-0.1), ConfigError);
  NoiseScaleEstimator est;
  EXPECT_THROW(est.update(1, 8, 1, 8), std::invalid_argument);  // big batch must be bigger
  EXPECT_THROW(est.update(1, 0, 1, 8), std::invalid_argument);
}

}  // namespace
