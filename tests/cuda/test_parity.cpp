// The torch backend on a CUDA device: every registered update rule against Eigen (the harness
// the CPU parity test uses, tests/realtrain/parity_harness.h) and the backend's reductions.
// Needs a CUDA build of LibTorch and a GPU: scripts/gpu_check runs this program; ctest registers
// it only when BATCHLAB_CUDA_TESTS is on (tests/CMakeLists.txt). Without a device every test
// fails with one message saying so, never skips: a check that did not run must not read as passed.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include <torch/torch.h>

#include "realtrain/torch_backend.h"
#include "tests/realtrain/parity_harness.h"

namespace {

using batchlab::realtrain::TorchBackend;

// Fails the calling test (ASSERT_NO_FATAL_FAILURE) when LibTorch sees no CUDA device.
void require_cuda() {
  ASSERT_TRUE(torch::cuda::is_available())
      << "no CUDA device visible to LibTorch (torch::cuda::device_count() = " << torch::cuda::device_count()
      << "): this test needs a CUDA build of LibTorch (with libtorch_cuda loaded) and a GPU";
}

TEST(CudaParity, EveryRegisteredRuleMatchesEigenFloatAndDouble) {
  ASSERT_NO_FATAL_FAILURE(require_cuda());
  const auto dev = batchlab::realtrain::testing::expect_every_rule_matches_eigen(torch::Device(torch::kCUDA, 0));
  EXPECT_GT(dev.settings, 10);
}

TEST(CudaTorchBackend, ReductionsAreAccumulatedInDouble) {
  ASSERT_NO_FATAL_FAILURE(require_cuda());
  const torch::Device cuda(torch::kCUDA, 0);
  // A float accumulator would be off by ~1e-7 relative (the CPU test's reasoning); CUDA tensors
  // take the generic torch-op path (convert, then reduce in double on the device).
  torch::Tensor x = torch::full({1000}, 0.1f, torch::TensorOptions().device(cuda));
  const double expected = 1000.0 * static_cast<double>(0.1f) * static_cast<double>(0.1f);
  EXPECT_NEAR(TorchBackend::squared_norm(x), expected, 1e-12 * expected);
  EXPECT_NEAR(TorchBackend::dot(x, x), expected, 1e-12 * expected);
  // Same value as the fused CPU path on the same elements.
  const torch::Tensor r = torch::randn({4096});
  const double cpu = TorchBackend::squared_norm(r);
  EXPECT_NEAR(TorchBackend::squared_norm(r.to(cuda)), cpu, 1e-12 * cpu);
  EXPECT_TRUE(TorchBackend::all_finite(x));
  x[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(TorchBackend::all_finite(x));
}

TEST(CudaTorchBackend, FusedUpdatesLeaveCudaTensorsWhereTheyLive) {
  ASSERT_NO_FATAL_FAILURE(require_cuda());
  const torch::Device cuda(torch::kCUDA, 0);
  // axpby / axpbypcz have CPU-only fused loops; on CUDA they must take the torch-op path and
  // write the caller's storage in place.
  const torch::Tensor x = torch::randn({257}), y = torch::randn({257}), z = torch::randn({257});
  torch::Tensor xc = x.to(cuda), yc = y.to(cuda), zc = z.to(cuda);
  const void* storage = zc.data_ptr();
  TorchBackend::axpby(0.3, xc, 0.7, zc);
  TorchBackend::axpbypcz(-0.2, xc, 0.5, yc, 0.9, zc);
  torch::Tensor zh = z.clone();
  TorchBackend::axpby(0.3, x, 0.7, zh);
  TorchBackend::axpbypcz(-0.2, x, 0.5, y, 0.9, zh);
  EXPECT_EQ(zc.data_ptr(), storage);
  EXPECT_TRUE(zc.is_cuda());
  EXPECT_TRUE(torch::allclose(zc.cpu(), zh, 1e-6, 1e-6));
}

}  // namespace
