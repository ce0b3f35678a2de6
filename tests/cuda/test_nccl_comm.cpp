// The NCCL communicator and the bucketed gradient all-reduce on CUDA tensors, one rank per GPU:
//   mpirun -np <GPUs> cuda_test_nccl_comm        (with one GPU: run it alone, as one rank)
// scripts/gpu_check runs it that way. It needs GPUs: without a CUDA device, init fails with the
// communicator's one-line reason and exit status 2 (never a skip).
//
// The references are independent of NCCL: expected values in closed form, and for the gradient
// all-reduce one MPI_Allreduce of the whole flattened gradient on host copies. With 1 or 2 ranks
// the bucketed result must equal it bitwise (a + b and the scale by 1/2 are exact); with more
// ranks NCCL's summation order may differ from MPI's, so it is compared to float rounding.
//
// One GPU cannot hold two ranks of one NCCL communicator (NCCL refuses a duplicate device), and
// the synchronizer skips communication in a world of 1, so with one rank the gradient test runs
// over PhantomPeerView: the real single-rank NCCL communicator seen as a world of 2 whose
// absent second member contributes zero. Every bucket then still goes through ncclAllReduce on
// the communication stream, ordered after the backward kernels that wrote it.
#include <gtest/gtest.h>
#include <mpi.h>

#include <torch/torch.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "realtrain/grad_sync.h"
#include "realtrain/process_group.h"
#include "realtrain/nccl/comm_nccl.h"

namespace br = batchlab::realtrain;
using batchlab::optim::BufferRef;
using batchlab::optim::DType;

namespace {

br::ProcessGroup& pg() { return br::init_process_group("nccl"); }
torch::Device device() { return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(pg().cuda_device)); }

BufferRef ref_of(const torch::Tensor& t) {
  return {t.data_ptr(), static_cast<std::size_t>(t.numel()),
          t.scalar_type() == torch::kFloat32 ? DType::kFloat32 : DType::kFloat64};
}

class PhantomPeerView final : public br::AsyncCommunicator {
 public:
  explicit PhantomPeerView(br::AsyncCommunicator& real) : real_(real) {
    if (real.world_size() != 1) throw std::invalid_argument("PhantomPeerView: only over a world of 1");
  }
  int world_size() const override { return 2; }
  int replicas_here() const override { return 1; }
  int first_worker() const override { return 0; }
  std::string name() const override { return real_.name() + "+phantom"; }
  // The synchronizer uses only start_allreduce_sum with an asynchronous communicator.
  void allreduce_mean(std::span<const BufferRef>) override { throw std::logic_error("PhantomPeerView: not used"); }
  void broadcast(std::span<const BufferRef>, int) override { throw std::logic_error("PhantomPeerView: not used"); }
  void barrier() override { real_.barrier(); }
  std::unique_ptr<br::PendingCollective> start_allreduce_sum(const BufferRef& b) override {
    ++launched;
    return real_.start_allreduce_sum(b);  // the sum over the one real rank; the phantom adds 0
  }
  int launched = 0;

 private:
  br::AsyncCommunicator& real_;
};

// A small net on this rank's GPU, parameters of different sizes; registration order
// w1, b1, w2, b2, w3 (w3 unused on the last rank when `last_rank_skips_w3`).
struct Net {
  std::vector<torch::Tensor> params;
  Net(torch::Dtype dtype, uint64_t seed) {
    torch::manual_seed(seed);
    const auto opt = torch::TensorOptions().dtype(dtype).device(device());
    for (auto shape : std::vector<std::vector<int64_t>>{{512, 64}, {512}, {32, 512}, {32}, {32, 32}})
      params.push_back(torch::randn(shape, opt).requires_grad_(true));
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
  return torch::randn({256, 64}, torch::TensorOptions().dtype(dtype)).to(device());
}

// Local backward on the GPU; the gradients copied to the host, flattened, summed over the ranks
// by MPI_Allreduce and scaled by 1 / world (the communicator's world: 2 for the phantom view).
std::vector<torch::Tensor> plain_allreduce_reference(Net& net, const torch::Tensor& x, bool use_w3, int world,
                                                     double* local_sq) {
  net.zero_grads();
  net.loss(x, use_w3).backward();
  std::vector<torch::Tensor> parts;
  for (auto& p : net.params) parts.push_back((p.grad().defined() ? p.grad() : torch::zeros_like(p)).cpu().reshape(-1));
  auto flat = torch::cat(parts).contiguous();
  *local_sq = flat.to(torch::kFloat64).square().sum().item<double>();
  MPI_Allreduce(MPI_IN_PLACE, flat.data_ptr(), static_cast<int>(flat.numel()),
                flat.scalar_type() == torch::kFloat32 ? MPI_FLOAT : MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  flat.mul_(1.0 / world);
  std::vector<torch::Tensor> out;
  int64_t off = 0;
  for (auto& p : net.params) {
    out.push_back(flat.narrow(0, off, p.numel()).view(p.sizes()).clone());
    off += p.numel();
  }
  return out;
}

void expect_bucketed_equals_plain(torch::Dtype dtype, std::size_t bucket_bytes, bool overlap, bool skip_w3) {
  const bool alone = pg().world == 1;
  auto* real = dynamic_cast<br::AsyncCommunicator*>(pg().global.get());
  ASSERT_NE(real, nullptr) << "the NCCL communicator is not asynchronous";
  std::unique_ptr<PhantomPeerView> phantom = alone ? std::make_unique<PhantomPeerView>(*real) : nullptr;
  batchlab::optim::Communicator& comm = alone ? static_cast<batchlab::optim::Communicator&>(*phantom) : *real;

  Net net(dtype, 7);
  const auto x = rank_input(dtype);
  const bool use_w3 = !(skip_w3 && pg().rank == pg().world - 1);
  double ref_sq = 0;
  const auto ref = plain_allreduce_reference(net, x, use_w3, comm.world_size(), &ref_sq);
  const bool exact = comm.world_size() <= 2;

  br::GradientSynchronizer sync(net.params, comm, bucket_bytes, overlap);
  for (int step = 0; step < 2; ++step) {  // the second step reuses buckets and hooks
    net.zero_grads();
    sync.prepare(true);
    net.loss(x, use_w3).backward();
    sync.finish();
    for (std::size_t k = 0; k < net.params.size(); ++k) {
      const auto& g = net.params[k].grad();
      ASSERT_TRUE(g.defined()) << "param " << k;
      EXPECT_TRUE(g.is_cuda()) << "param " << k;
      const auto got = g.cpu();
      const bool same = exact ? torch::equal(got, ref[k]) : torch::allclose(got, ref[k], 1e-5, 1e-6);
      EXPECT_TRUE(same) << "param " << k << " bucket_bytes " << bucket_bytes << " step " << step << " max |diff| "
                        << (got - ref[k]).abs().max().item<double>() << (exact ? " (must be bitwise)" : "");
    }
    EXPECT_NEAR(sync.local_grad_sq_norm(), ref_sq, 1e-5 * ref_sq);
    const std::size_t expected_early = !overlap ? 0 : use_w3 ? sync.bucket_count() : 0;
    EXPECT_EQ(sync.buckets_launched_during_backward(), expected_early) << "bucket_bytes " << bucket_bytes;
  }
  if (phantom) {
    EXPECT_EQ(phantom->launched, static_cast<int>(2 * sync.bucket_count()));
  }
}

}  // namespace

TEST(NcclProcessGroup, OneRankPerGpu) {
  auto& g = pg();
  EXPECT_EQ(g.backend, "nccl");
  EXPECT_GE(g.cuda_device, 0);
  EXPECT_LT(g.cuda_device, static_cast<int>(torch::cuda::device_count()));
  EXPECT_EQ(g.global->world_size(), g.world);
  EXPECT_EQ(g.global->replicas_here(), 1);
  EXPECT_EQ(g.global->first_worker(), g.rank);
  EXPECT_EQ(g.node->world_size(), g.local_size);
  RecordProperty("ranks", g.world);
  RecordProperty("nccl", br::nccl::version_string());
  g.global->barrier();
}

TEST(NcclCommunicator, AllreduceMeanOfDeviceBuffersIsTheRankAverage) {
  const int w = pg().world, r = pg().rank;
  auto f = torch::tensor({float(r + 1), -3.0f * r}, torch::TensorOptions().device(device()));
  auto d = torch::tensor({double(r + 1), 10.0 * r}, torch::TensorOptions().dtype(torch::kFloat64).device(device()));
  const BufferRef rf = ref_of(f), rd = ref_of(d);
  pg().global->allreduce_mean({&rf, 1});
  pg().global->allreduce_mean({&rd, 1});
  const double mean_r = (w - 1) / 2.0;  // mean of 0 .. w-1
  auto fh = f.cpu(), dh = d.cpu();
  EXPECT_NEAR(fh[0].item<double>(), mean_r + 1, 1e-6 * (mean_r + 1));
  EXPECT_NEAR(fh[1].item<double>(), -3 * mean_r, 1e-6 * (1 + 3 * mean_r));
  EXPECT_NEAR(dh[0].item<double>(), mean_r + 1, 1e-14 * (mean_r + 1));
  EXPECT_NEAR(dh[1].item<double>(), 10 * mean_r, 1e-14 * (1 + 10 * mean_r));
}

TEST(NcclCommunicator, AllreduceMeanOfHostBuffersIsStagedThroughTheDevice) {
  // The trainer's evaluation sums are host doubles; the communicator copies them through the GPU.
  const int w = pg().world, r = pg().rank;
  std::vector<double> v = {double(r), 2.5};
  const BufferRef ref = batchlab::optim::buffer_ref(std::span<double>(v));
  pg().global->allreduce_mean({&ref, 1});
  EXPECT_NEAR(v[0], (w - 1) / 2.0, 1e-14 * w);
  EXPECT_NEAR(v[1], 2.5, 1e-14);
}

TEST(NcclCommunicator, BroadcastCopiesRootBuffer) {
  const int w = pg().world, r = pg().rank;
  for (int root = 0; root < w; ++root) {
    auto t = torch::full({1000}, float(10 * r + 1), torch::TensorOptions().device(device()));
    const BufferRef ref = ref_of(t);
    pg().global->broadcast({&ref, 1}, root);
    EXPECT_TRUE(torch::equal(t.cpu(), torch::full({1000}, float(10 * root + 1)))) << "root " << root;
  }
  auto t = torch::zeros({1}, torch::TensorOptions().device(device()));
  const BufferRef ref = ref_of(t);
  EXPECT_THROW(pg().global->broadcast({&ref, 1}, w), std::invalid_argument);
}

TEST(NcclCommunicator, AsyncSumMatchesHandSum) {
  const int w = pg().world, r = pg().rank;
  auto* async = dynamic_cast<br::AsyncCommunicator*>(pg().global.get());
  ASSERT_NE(async, nullptr);
  auto d = torch::tensor({1.0 + r, 0.25}, torch::TensorOptions().dtype(torch::kFloat64).device(device()));
  auto op = async->start_allreduce_sum(ref_of(d));
  op->wait();
  EXPECT_TRUE(op->test());
  auto h = d.cpu();
  EXPECT_EQ(h[0].item<double>(), w * (w + 1) / 2.0);
  EXPECT_EQ(h[1].item<double>(), 0.25 * w);
}

TEST(NcclCommunicator, CollectivesAreOrderedWithTheComputeStream) {
  // 64 MiB written by a chain of kernels queued just before the collective: the all-reduce must
  // wait for them (cudaStreamWaitEvent), and the kernels queued right after must see its result.
  const int w = pg().world, r = pg().rank;
  auto t = torch::zeros({16 << 20}, torch::TensorOptions().device(device()));
  for (int k = 0; k < 8; ++k) t.add_(r + 1);  // 8 (r + 1) once all kernels have run
  const BufferRef ref = ref_of(t);
  pg().global->allreduce_mean({&ref, 1});
  auto after = t.mul(2.0);                  // queued on the compute stream after the collective
  // The mean of 8 (r + 1) over the ranks; NCCL may average as a sum of x / w (not exact for w = 3).
  const double expected = 8.0 * (w + 1) / 2.0, tol = 1e-6 * expected;
  EXPECT_NEAR(t.min().item<double>(), expected, tol);
  EXPECT_NEAR(t.max().item<double>(), expected, tol);
  EXPECT_NEAR(after.min().item<double>(), 2 * expected, 2 * tol);
}

TEST(NcclNodeCommunicator, AveragesOverTheRanksOfThisNode) {
  auto& g = pg();
  auto t = torch::full({4}, 4.0 * g.local_rank, torch::TensorOptions().dtype(torch::kFloat64).device(device()));
  const BufferRef ref = ref_of(t);
  g.node->allreduce_mean({&ref, 1});
  EXPECT_TRUE(torch::allclose(t.cpu(), torch::full({4}, 2.0 * (g.local_size - 1), torch::kFloat64), 1e-14, 1e-14));
}

TEST(NcclGradientSynchronizer, BucketedEqualsOnePlainAllreduceFloat) {
  // 512x64 + 512 + 32x512 + 32 + 32x32 floats: buckets of 1 param each up to one for all.
  for (std::size_t bytes : {std::size_t{1}, std::size_t{4096}, std::size_t{70000}, std::size_t{25} << 20})
    for (bool overlap : {true, false}) expect_bucketed_equals_plain(torch::kFloat32, bytes, overlap, false);
}

TEST(NcclGradientSynchronizer, BucketedEqualsOnePlainAllreduceDouble) {
  for (std::size_t bytes : {std::size_t{1}, std::size_t{25} << 20}) expect_bucketed_equals_plain(torch::kFloat64, bytes, true, false);
}

TEST(NcclGradientSynchronizer, ParameterUnusedOnOneRankCountsAsZero) {
  for (std::size_t bytes : {std::size_t{1}, std::size_t{25} << 20}) expect_bucketed_equals_plain(torch::kFloat32, bytes, true, true);
}

// Ranks other than 0 print nothing and write no --gtest_output report (rank 0's stands for the
// job); a failure on any rank fails the job through the exit status.
int main(int argc, char** argv) {
  br::ProcessGroup* g = nullptr;
  try {
    g = &br::init_process_group("nccl");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_test_nccl_comm: %s\n", e.what());
    return 2;
  }
  std::vector<char*> args(argv, argv + argc);
  if (g->rank != 0)
    std::erase_if(args, [](const char* a) { return std::strncmp(a, "--gtest_output", 14) == 0; });
  int n = static_cast<int>(args.size());
  ::testing::InitGoogleTest(&n, args.data());
  if (g->rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (failed && g->rank == 0) std::fprintf(stderr, "cuda_test_nccl_comm: a test failed on some rank\n");
  br::finalize_process_group();
  return failed;
}
