// K-FAC across processes under mpiexec -np 2: each rank takes half of one batch, its factor
// statistics are all-reduced through the MpiCommunicator (Kfac::precondition with the process
// group's communicator) and its gradient too; the factors and the preconditioned gradients then
// equal those of one process on the union batch, on a convolution and a fully connected layer,
// over several updates (EMA and an inverse recomputation included).
#include <gtest/gtest.h>
#include <mpi.h>

#include <torch/torch.h>

#include "optim/communicator.h"
#include "realtrain/kfac.h"
#include "realtrain/models.h"
#include "realtrain/process_group.h"
#include "tests/mpi/run_on_all_ranks.h"

namespace br = batchlab::realtrain;
namespace bo = batchlab::optim;
namespace nn = torch::nn;

namespace {

br::ProcessGroup& pg() { return br::init_process_group("mpi"); }

// conv 1 -> 2 (3x3, padding 1) on 6x6 images, ReLU, fc 72 -> 3.
class Tiny final : public br::Model {
 public:
  Tiny()
      : conv_(register_module("conv", nn::Conv2d(nn::Conv2dOptions(1, 2, 3).padding(1)))),
        fc_(register_module("fc", nn::Linear(72, 3))) {}
  torch::Tensor forward(torch::Tensor x) override {
    return run_layer(fc_, torch::relu(run_layer(conv_, x)).flatten(1));
  }
  bool reports_layers() const override { return true; }

 private:
  nn::Conv2d conv_;
  nn::Linear fc_;
};

struct KfacRun {
  std::shared_ptr<Tiny> model;
  std::unique_ptr<br::Kfac> kfac;
  KfacRun() {
    torch::manual_seed(11);
    model = std::make_shared<Tiny>();
    br::KfacConfig c;
    c.damping = 1e-2;
    c.decay = 0.8;
    c.update_every = 2;
    kfac = std::make_unique<br::Kfac>(*model, "tiny", c);
  }
  // One update on examples [begin, end) of the update's batch of 8; `comm`: all-reduce grads and factors.
  std::vector<torch::Tensor> step(int t, std::int64_t begin, std::int64_t end, bo::Communicator* comm) {
    torch::manual_seed(100 + t);
    const torch::Tensor x = torch::randn({8, 1, 6, 6}), y = torch::randint(0, 3, {8});
    for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
    kfac->begin_update(t, end - begin);
    torch::nn::functional::cross_entropy(model->forward(x.slice(0, begin, end)), y.slice(0, begin, end)).backward();
    std::vector<torch::Tensor> grads;
    for (auto& p : model->parameters()) {
      if (comm) {
        const bo::BufferRef r{p.grad().data_ptr(), static_cast<std::size_t>(p.grad().numel()), bo::DType::kFloat32};
        comm->allreduce_mean({&r, 1});
      }
    }
    kfac->precondition(t, comm);
    for (auto& p : model->parameters()) grads.push_back(p.grad().clone());
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.sub_(0.1 * p.grad());
    return grads;
  }
};

}  // namespace

TEST(KfacMpi, TwoRanksWithAllReducedFactorsEqualOneRankOnTheUnionBatch) {
  ASSERT_EQ(pg().world, 2);
  const std::int64_t begin = 4 * pg().rank;
  KfacRun dist, whole;
  for (int t = 0; t < 5; ++t) {
    const auto gd = dist.step(t, begin, begin + 4, pg().global.get());
    const auto gw = whole.step(t, 0, 8, nullptr);
    for (std::size_t i = 0; i < dist.kfac->layer_count(); ++i) {
      EXPECT_TRUE(torch::allclose(dist.kfac->factor_a(i), whole.kfac->factor_a(i), 1e-5, 1e-6))
          << "A of " << dist.kfac->layer_name(i) << " at update " << t;
      EXPECT_TRUE(torch::allclose(dist.kfac->factor_g(i), whole.kfac->factor_g(i), 1e-5, 1e-6))
          << "G of " << dist.kfac->layer_name(i) << " at update " << t;
    }
    for (std::size_t k = 0; k < gd.size(); ++k)
      EXPECT_TRUE(torch::allclose(gd[k], gw[k], 1e-4, 1e-6)) << "preconditioned gradient " << k << " at update " << t;
  }
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto& g = br::init_process_group("mpi");
  const int status = batchlab::testing::run_on_all_ranks(g.rank, "test_kfac_mpi");
  br::finalize_process_group();
  return status;
}
