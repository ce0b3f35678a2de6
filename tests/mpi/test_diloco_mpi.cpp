// DiLoCo across processes under mpiexec -np 2: two ranks (one worker each, MpiCommunicator)
// equal two workers simulated in one process (InProcessCommunicator) on the same data, through
// the same optim::DilocoSync and the same inner optimizer (Optimizer<TorchBackend>): streaming
// fragments, 4-bit stochastic quantisation (the rounding stream follows the global worker
// index) and the overlapped, delayed application included.
#include <gtest/gtest.h>
#include <mpi.h>

#include <torch/torch.h>

#include "optim/communicator.h"
#include "optim/diloco.h"
#include "optim/optimizer.h"
#include "realtrain/comm_mpi.h"
#include "realtrain/process_group.h"
#include "realtrain/torch_backend.h"
#include "tests/mpi/run_on_all_ranks.h"

namespace br = batchlab::realtrain;
namespace bo = batchlab::optim;

namespace {

br::ProcessGroup& pg() { return br::init_process_group("mpi"); }

// One worker: a two-layer net (same initialisation for every worker) and its inner Adam.
struct Worker {
  std::vector<torch::Tensor> params;
  std::unique_ptr<bo::Optimizer<br::TorchBackend>> opt;
  Worker() {
    torch::manual_seed(5);
    for (auto shape : std::vector<std::vector<int64_t>>{{16, 8}, {16}, {3, 16}, {3}})
      params.push_back((0.3 * torch::randn(shape)).requires_grad_(true));
    bo::OptimizerConfig c;
    c.name = "adam";
    std::vector<bo::GroupOptions> groups(params.size(), bo::GroupOptions{"p"});
    opt = std::make_unique<bo::Optimizer<br::TorchBackend>>(c, groups);
  }
  std::vector<bo::BufferRef> refs() {
    std::vector<bo::BufferRef> r;
    for (auto& p : params) r.push_back({p.data_ptr(), static_cast<std::size_t>(p.numel()), bo::DType::kFloat32});
    return r;
  }
  // One inner step on worker `w`'s batch of update t (data depends on both, not on the process).
  void step(int w, int t) {
    torch::manual_seed(1000 * w + t);
    const torch::Tensor x = torch::randn({32, 8}), y = torch::randn({32, 3});
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    const auto h = torch::tanh(torch::matmul(x, params[0].t()) + params[1]);
    (torch::matmul(h, params[2].t()) + params[3] - y).square().mean().backward();
    std::vector<torch::Tensor> grads;
    for (auto& p : params) grads.push_back(p.grad());
    torch::NoGradGuard no_grad;
    opt->step(params, grads, 0.01);
  }
};

bo::SyncPolicy streaming_policy() {
  bo::OuterConfig o;
  o.bits = 4;
  o.rounding = bo::Rounding::kStochastic;
  o.overlap = true;
  o.overlap_steps = 1;
  return bo::SyncPolicy::parse("streaming-diloco:4:2", false, o);
}

}  // namespace

TEST(DilocoMpi, TwoRanksEqualTwoSimulatedWorkersOnTheSameData) {
  ASSERT_EQ(pg().world, 2);
  const bo::SyncPolicy policy = streaming_policy();
  constexpr int kSteps = 13;
  // Distributed: this rank is worker `rank`.
  Worker mine;
  bo::DilocoSync dist(policy, {mine.refs()}, pg().rank, 42);
  // Simulated: both workers here.
  Worker sim0, sim1;
  bo::InProcessCommunicator comm(2);
  bo::DilocoSync local(policy, {sim0.refs(), sim1.refs()}, 0, 42);
  for (int t = 0; t < kSteps; ++t) {
    mine.step(pg().rank, t);
    dist.after_update(t, *pg().global);
    sim0.step(0, t);
    sim1.step(1, t);
    local.after_update(t, comm);
  }
  const Worker& same = pg().rank == 0 ? sim0 : sim1;
  for (std::size_t i = 0; i < mine.params.size(); ++i) {
    const double diff = (mine.params[i] - same.params[i]).abs().max().item<double>();
    EXPECT_LT(diff, 1e-6) << "parameter " << i;
  }
  EXPECT_EQ(dist.stats().bytes_sent, local.stats().bytes_sent);
  EXPECT_EQ(dist.stats().outer_steps, local.stats().outer_steps);
  // The outer steps happened and quantised: the workers moved and the error was measured.
  EXPECT_GT(local.stats().total_error.relative(), 0.0);
  EXPECT_LE(local.stats().total_error.max_over_bound, 1.0 + 1e-9);
  // The global parameters agree too (they depend only on all-reduced values).
  ASSERT_EQ(dist.global().size(), local.global().size());
  for (std::size_t k = 0; k < dist.global().size(); ++k) ASSERT_NEAR(dist.global()[k], local.global()[k], 1e-6);
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto& g = br::init_process_group("mpi");
  const int status = batchlab::testing::run_on_all_ranks(g.rank, "test_diloco_mpi");
  br::finalize_process_group();
  return status;
}
