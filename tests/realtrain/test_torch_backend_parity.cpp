// Every registered update rule gives the same parameters on torch tensors (float32) as on the
// Eigen backend (float and double), with the same data: the "written once" claim of
// docs/architecture.md#the-optim-backend.
// The harness (parity_harness.h) is shared with the CUDA run of the same check (tests/cuda).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "realtrain/torch_backend.h"
#include "tests/realtrain/parity_harness.h"

namespace {

using batchlab::realtrain::TorchBackend;

TEST(TorchBackendParity, EveryRegisteredRuleMatchesEigenFloatAndDouble) {
  const auto dev = batchlab::realtrain::testing::expect_every_rule_matches_eigen(torch::kCPU);
  EXPECT_GT(dev.settings, 10);  // every rule at least once, several with extra knobs
}

TEST(TorchBackendParity, ReductionsAreAccumulatedInDouble) {
  // 1 + 1e-8 is not representable in float; the squared norm must still be the double sum of
  // the float elements, as in the Eigen backend.
  torch::Tensor x = torch::full({1000}, 0.1f);
  const double expected = 1000.0 * static_cast<double>(0.1f) * static_cast<double>(0.1f);
  // A float accumulator would be off by ~1e-7 relative; double summation (the order may
  // differ from 1000 x (0.1f)^2) by ~1e-15.
  EXPECT_NEAR(TorchBackend::squared_norm(x), expected, 1e-12 * expected);
  EXPECT_NEAR(TorchBackend::dot(x, x), expected, 1e-12 * expected);
  EXPECT_NEAR(TorchBackend::norm(x), std::sqrt(expected), 1e-12 * std::sqrt(expected));
  // The fused CPU path (contiguous float32) and the generic torch-op path (a strided view) agree.
  const torch::Tensor strided = torch::randn({64, 33}).slice(1, 0, 33, 2);  // not dense: generic path
  const torch::Tensor packed = strided.contiguous();                          // fused path
  ASSERT_FALSE(strided.is_non_overlapping_and_dense());
  const double sq = TorchBackend::squared_norm(packed);
  EXPECT_NEAR(TorchBackend::squared_norm(strided), sq, 1e-12 * sq);
  EXPECT_NEAR(TorchBackend::dot(strided, strided), sq, 1e-12 * sq);
  EXPECT_TRUE(TorchBackend::all_finite(x));
  x[3] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(TorchBackend::all_finite(x));
}

}  // namespace
