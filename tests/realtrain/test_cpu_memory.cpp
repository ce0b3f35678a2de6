// realtrain/cpu_memory.h: with glibc's defaults, every training update maps its large activations
// and gradients in afresh and unmaps them on free, page-faulting every page again; with
// keep_freed_memory_for_reuse() the updates after the first few reuse the memory the earlier ones
// freed. Counted in page faults (deterministic), not timed.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stdlib.h>

#include <cstdlib>

#include "realtrain/cpu_memory.h"

namespace {

// Minor page faults per forward/backward update of a 64 -> 64 linear layer on 65536 examples (16 MiB
// of output and as much of its gradient per update), over `steps` updates after `warmup` others.
std::int64_t faults_per_update(int warmup, int steps) {
  torch::manual_seed(0);
  torch::nn::Linear layer(64, 64);
  const torch::Tensor x = torch::randn({65536, 64});
  auto update = [&] {
    layer->zero_grad();
    torch::Tensor loss = layer->forward(x).square().mean();
    loss.backward();
  };
  for (int i = 0; i < warmup; ++i) update();
  const std::int64_t before = batchlab::realtrain::minor_page_faults();
  for (int i = 0; i < steps; ++i) update();
  return (batchlab::realtrain::minor_page_faults() - before) / steps;
}

}  // namespace

TEST(CpuMemory, UpdatesReuseFreedActivationsInsteadOfFaultingThemInAgain) {
  unsetenv("BATCHLAB_DEFAULT_MALLOC");  // the opt-out is the user's; this test measures both settings itself
  batchlab::realtrain::restore_default_malloc();
  const std::int64_t with_defaults = faults_per_update(2, 3);
  ASSERT_TRUE(batchlab::realtrain::keep_freed_memory_for_reuse());
  const std::int64_t kept = faults_per_update(8, 4);
  batchlab::realtrain::restore_default_malloc();
  // 16 MiB is 4096 pages of 4 KiB; an update maps at least its output again with the defaults.
  EXPECT_GT(with_defaults, 4000) << "glibc's defaults should map the activations in again every update";
  EXPECT_LT(kept, with_defaults / 20) << "the freed memory should have been reused";
}
