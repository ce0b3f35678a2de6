// Communication layer under mpiexec -np 2: MPI communicator collectives, the node communicator,
// and the bucketed, overlapped gradient all-reduce, which must equal one plain all-reduce of the
// whole flattened gradient for every bucket size (with 2 ranks the sum a+b is exact and the
// scale by 1/2 is exact, so the comparison is bitwise).
#include <gtest/gtest.h>
#include <mpi.h>

#include <torch/torch.h>

#include "realtrain/grad_sync.h"
#include "realtrain/process_group.h"
#include "realtrain/comm_mpi.h"
#include "tests/mpi/run_on_all_ranks.h"

namespace br = batchlab::realtrain;
using batchlab::optim::BufferRef;

namespace {

br::ProcessGroup& pg() { return br::init_process_group("mpi"); }

// A small net whose parameters have different sizes and dtype `dtype`; registration order is
// w1, b1, w2, b2, w3 (w3 unused on rank 1 when `rank1_skips_w3`).
struct Net {
  std::vector<torch::Tensor> params;
  explicit Net(torch::Dtype dtype, uint64_t seed) {
    torch::manual_seed(seed);
    auto opt = torch::TensorOptions().dtype(dtype);
    for (auto shape : std::vector<std::vector<int64_t>>{{16, 8}, {16}, {4, 16}, {4}, {4, 4}}) {
      params.push_back(torch::randn(shape, opt).requires_grad_(true));
    }
  }
  torch::Tensor loss(const torch::Tensor& x, bool use_w3) const {
    auto h = torch::tanh(torch::matmul(x, params[0].t()) + params[1]);
    auto y = torch::matmul(h, params[2].t()) + params[3];
    if (use_w3) y = torch::matmul(y, params[4]);
    return y.square().mean();
  }
  void zero_grads() {
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
  }
};

torch::Tensor rank_input(torch::Dtype dtype) {
  torch::manual_seed(1000 + pg().rank);  // different data per rank, so gradients differ
  return torch::randn({32, 8}, torch::TensorOptions().dtype(dtype));
}

// Reference: local backward, then one MPI_Allreduce of the whole flattened gradient, / world.
std::vector<torch::Tensor> plain_allreduce_reference(Net& net, const torch::Tensor& x, bool use_w3,
                                                     double* local_sq) {
  net.zero_grads();
  net.loss(x, use_w3).backward();
  std::vector<torch::Tensor> flat_parts;
  double sq = 0;
  for (auto& p : net.params) {
    auto g = p.grad().defined() ? p.grad() : torch::zeros_like(p);
    sq += g.to(torch::kFloat64).square().sum().item<double>();
    flat_parts.push_back(g.reshape(-1));
  }
  auto flat = torch::cat(flat_parts).contiguous();
  MPI_Allreduce(MPI_IN_PLACE, flat.data_ptr(), static_cast<int>(flat.numel()),
                flat.scalar_type() == torch::kFloat32 ? MPI_FLOAT : MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  flat.mul_(1.0 / pg().world);
  std::vector<torch::Tensor> out;
  int64_t off = 0;
  for (auto& p : net.params) {
    out.push_back(flat.narrow(0, off, p.numel()).view(p.sizes()).clone());
    off += p.numel();
  }
  *local_sq = sq;
  return out;
}

void expect_bucketed_equals_plain(torch::Dtype dtype, std::size_t bucket_bytes, bool overlap, bool rank1_skips_w3) {
  Net net(dtype, 7);
  const auto x = rank_input(dtype);
  const bool use_w3 = !(rank1_skips_w3 && pg().rank == 1);
  double ref_sq = 0;
  const auto ref = plain_allreduce_reference(net, x, use_w3, &ref_sq);

  br::GradientSynchronizer sync(net.params, *pg().global, bucket_bytes, overlap);
  for (int step = 0; step < 2; ++step) {  // the second step reuses buckets and hooks
    net.zero_grads();
    sync.prepare(true);
    net.loss(x, use_w3).backward();
    sync.finish();
    for (std::size_t k = 0; k < net.params.size(); ++k) {
      ASSERT_TRUE(net.params[k].grad().defined()) << "param " << k;
      EXPECT_TRUE(torch::equal(net.params[k].grad(), ref[k]))
          << "param " << k << " bucket_bytes " << bucket_bytes << " step " << step;
    }
    EXPECT_NEAR(sync.local_grad_sq_norm(), ref_sq, 1e-5 * ref_sq);
    // Overlap: with hooks every bucket but the one holding a parameter unused here goes out
    // during backward; without, none does.
    const std::size_t expected_early = !overlap ? 0 : use_w3 ? sync.bucket_count() : 0;
    EXPECT_EQ(sync.buckets_launched_during_backward(), expected_early) << "bucket_bytes " << bucket_bytes;
  }
}

}  // namespace

TEST(MpiCommunicator, AllreduceMeanOfRankValuesIsTheirAverage) {
  auto& g = pg();
  ASSERT_EQ(g.world, 2);
  std::vector<double> d = {double(g.rank + 1), 10.0 * g.rank};
  std::vector<float> f = {float(g.rank + 1), -3.0f * g.rank};
  BufferRef rd = batchlab::optim::buffer_ref(std::span<double>(d));
  BufferRef rf = batchlab::optim::buffer_ref(std::span<float>(f));
  g.global->allreduce_mean(std::span<const BufferRef>(&rd, 1));
  g.global->allreduce_mean(std::span<const BufferRef>(&rf, 1));
  EXPECT_EQ(d[0], 1.5);  // (1 + 2) / 2
  EXPECT_EQ(d[1], 5.0);  // (0 + 10) / 2
  EXPECT_EQ(f[0], 1.5f);
  EXPECT_EQ(f[1], -1.5f);
}

TEST(MpiCommunicator, BroadcastCopiesRootBuffer) {
  auto& g = pg();
  for (int root = 0; root < g.world; ++root) {
    std::vector<double> d(5, double(g.rank));
    std::vector<float> f(3, float(10 * g.rank));
    BufferRef rd = batchlab::optim::buffer_ref(std::span<double>(d));
    BufferRef rf = batchlab::optim::buffer_ref(std::span<float>(f));
    g.global->broadcast(std::span<const BufferRef>(&rd, 1), root);
    g.global->broadcast(std::span<const BufferRef>(&rf, 1), root);
    for (double v : d) EXPECT_EQ(v, double(root));
    for (float v : f) EXPECT_EQ(v, float(10 * root));
  }
}

TEST(MpiCommunicator, BroadcastRejectsRootOutsideWorld) {
  std::vector<double> d(1);
  BufferRef r = batchlab::optim::buffer_ref(std::span<double>(d));
  EXPECT_THROW(pg().global->broadcast(std::span<const BufferRef>(&r, 1), 2), std::invalid_argument);
}

TEST(MpiCommunicator, ReportsOneReplicaPerRank) {
  auto& g = pg();
  EXPECT_EQ(g.global->world_size(), 2);
  EXPECT_EQ(g.global->replicas_here(), 1);
  EXPECT_EQ(g.global->first_worker(), g.rank);
  g.global->barrier();
}

TEST(MpiCommunicator, AsyncSumMatchesHandSum) {
  auto& g = pg();
  auto* async = dynamic_cast<br::AsyncCommunicator*>(g.global.get());
  ASSERT_NE(async, nullptr);
  std::vector<double> d = {1.0 + g.rank, 0.25};
  auto op = async->start_allreduce_sum(batchlab::optim::buffer_ref(std::span<double>(d)));
  op->wait();
  EXPECT_TRUE(op->test());
  EXPECT_EQ(d[0], 3.0);
  EXPECT_EQ(d[1], 0.5);
}

TEST(NodeCommunicator, BothRanksShareOneNode) {
  auto& g = pg();
  // mpiexec -np 2 on one machine: both ranks are on this node.
  EXPECT_EQ(g.local_size, 2);
  EXPECT_EQ(g.local_rank, g.rank);
  EXPECT_EQ(g.node->world_size(), 2);
  std::vector<double> d = {4.0 * g.local_rank};
  BufferRef r = batchlab::optim::buffer_ref(std::span<double>(d));
  g.node->allreduce_mean(std::span<const BufferRef>(&r, 1));
  EXPECT_EQ(d[0], 2.0);
}

TEST(ProcessGroup, LauncherEnvironmentSaysMultipleRanks) {
  EXPECT_TRUE(br::launched_with_multiple_ranks());
  EXPECT_EQ(pg().backend, "mpi");
  EXPECT_EQ(&br::init_process_group("mpi"), &pg());  // idempotent
}

TEST(GradientSynchronizer, BucketsHoldParametersInReverseRegistrationOrder) {
  Net net(torch::kFloat32, 1);
  // 5 params of 128, 16, 64, 4, 16 floats; 90-float buckets: {w3, b2, w2} (84) {b1} {w1}.
  br::GradientSynchronizer sync(net.params, *pg().global, 90 * 4);
  ASSERT_EQ(sync.bucket_count(), 3u);
  EXPECT_EQ(sync.bucket_param_indices(0), (std::vector<std::size_t>{4, 3, 2}));
  EXPECT_EQ(sync.bucket_param_indices(1), (std::vector<std::size_t>{1}));
  EXPECT_EQ(sync.bucket_param_indices(2), (std::vector<std::size_t>{0}));
  // A bucket smaller than every tensor: one bucket per parameter.
  br::GradientSynchronizer tiny(net.params, *pg().global, 1);
  EXPECT_EQ(tiny.bucket_count(), 5u);
  br::GradientSynchronizer whole(net.params, *pg().global);
  EXPECT_EQ(whole.bucket_count(), 1u);
}

TEST(GradientSynchronizer, BucketedEqualsOnePlainAllreduceFloat) {
  for (std::size_t bytes : {std::size_t{1}, std::size_t{100}, std::size_t{300}, std::size_t{4096}, std::size_t{25} << 20}) {
    for (bool overlap : {true, false}) expect_bucketed_equals_plain(torch::kFloat32, bytes, overlap, false);
  }
}

TEST(GradientSynchronizer, BucketedEqualsOnePlainAllreduceDouble) {
  for (std::size_t bytes : {std::size_t{1}, std::size_t{200}, std::size_t{25} << 20}) {
    expect_bucketed_equals_plain(torch::kFloat64, bytes, true, false);
  }
}

TEST(GradientSynchronizer, ParameterUnusedOnOneRankCountsAsZero) {
  for (std::size_t bytes : {std::size_t{1}, std::size_t{25} << 20}) {
    expect_bucketed_equals_plain(torch::kFloat32, bytes, true, true);
  }
}

TEST(GradientSynchronizer, DisabledStepKeepsLocalGradient) {
  Net net(torch::kFloat32, 3);
  const auto x = rank_input(torch::kFloat32);
  net.loss(x, true).backward();
  std::vector<torch::Tensor> local;
  double sq = 0;
  for (auto& p : net.params) {
    local.push_back(p.grad().clone());
    sq += p.grad().to(torch::kFloat64).square().sum().item<double>();
  }
  br::GradientSynchronizer sync(net.params, *pg().global, 64);
  net.zero_grads();
  sync.prepare(false);
  net.loss(x, true).backward();
  sync.finish();
  for (std::size_t k = 0; k < local.size(); ++k) EXPECT_TRUE(torch::equal(net.params[k].grad(), local[k]));
  EXPECT_NEAR(sync.local_grad_sq_norm(), sq, 1e-5 * sq);
  // The next synchronised step still agrees across ranks.
  net.zero_grads();
  sync.prepare(true);
  net.loss(x, true).backward();
  sync.finish();
  auto g0 = net.params[0].grad().clone();
  MPI_Bcast(g0.data_ptr(), static_cast<int>(g0.numel()), MPI_FLOAT, 0, MPI_COMM_WORLD);
  EXPECT_TRUE(torch::equal(g0, net.params[0].grad()));
}

TEST(GradientSynchronizer, FinishWithoutPrepareIsAnError) {
  Net net(torch::kFloat32, 4);
  br::GradientSynchronizer sync(net.params, *pg().global);
  EXPECT_THROW(sync.finish(), std::logic_error);
  sync.prepare(true);
  EXPECT_THROW(sync.prepare(true), std::logic_error);
  sync.finish();
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto& g = br::init_process_group("mpi");
  const int status = batchlab::testing::run_on_all_ranks(g.rank, "test_comm");
  br::finalize_process_group();
  return status;
}
