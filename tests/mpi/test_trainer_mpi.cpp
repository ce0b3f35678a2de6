// The trainer on 2 ranks (run under mpiexec -np 2): data parallelism changes nothing but the
// wall clock. 2 ranks x B/2 with gradient all-reduce == 1 rank x B (the 1-rank reference runs on
// rank 0 inside this test, on the full batch); local:1 == sync; hierarchical and local SGD
// average exactly when their policy says; the noise scale is measured with 2 ranks; gradient
// accumulation on 2 ranks equals the big batch on one.
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>
#include <nlohmann/json.hpp>

#include "optim/communicator.h"
#include "realtrain/grad_sync.h"
#include "realtrain/process_group.h"
#include "realtrain/trainer.h"
#include "tests/fashion_mnist.h"
#include "tests/mpi/run_on_all_ranks.h"
#include "tests/realtrain/metrics_csv.h"

namespace {

namespace rt = batchlab::realtrain;
namespace fs = std::filesystem;

const std::string kFashion = batchlab::testing::fashion_mnist_dir();

rt::ProcessGroup& pg() { return rt::init_process_group("mpi"); }

// Every output dir of this job lies under one scratch dir named by rank 0's pid (set in main,
// the same on both ranks): other build trees run this test at the same time.
fs::path job_dir;

std::string out_dir(const std::string& name) { return (job_dir / name).string(); }

rt::TrainConfig config(const std::string& sync, const std::string& name) {
  rt::TrainConfig c;
  c.data_dir = kFashion;
  c.model = "mlp:32";
  c.batch_size = 64;  // global
  c.optimizer = "momentum";
  c.lr = 0.05;
  c.momentum = 0.9;
  c.weight_decay = 1e-3;
  c.steps = 8;
  c.eval_every = 8;
  c.threads = 1;
  c.sync = sync;
  c.output = out_dir(name);
  return c;
}

std::vector<torch::Tensor> snapshot(rt::Trainer& t) {
  std::vector<torch::Tensor> out;
  for (const auto& p : t.parameters()) out.push_back(p.detach().clone());
  return out;
}

double max_abs_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double d = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i)
    d = std::max(d, (a[i] - b[i]).abs().max().item<double>());
  return d;
}

// metrics.csv without the timing columns (img_per_s, wall_s), which a resume may change.
std::vector<std::string> metrics_without_timings(const std::string& dir) {
  std::vector<std::string> rows;
  for (const auto& cols : batchlab::realtrain::testing::read_metrics_csv(dir)) {
    std::string kept;
    for (std::size_t i = 0; i < cols.size(); ++i)
      if (i != 7 && i != 11) kept += cols[i] + ",";
    rows.push_back(kept);
  }
  return rows;
}

// max over parameters of |own - mean over ranks|: 0 iff every rank holds the same parameters.
double spread_across_ranks(const std::vector<torch::Tensor>& params) {
  double d = 0.0;
  for (const auto& p : params) {
    torch::Tensor mean = p.clone();
    MPI_Allreduce(MPI_IN_PLACE, mean.data_ptr<float>(), static_cast<int>(mean.numel()), MPI_FLOAT,
                  MPI_SUM, MPI_COMM_WORLD);
    mean.div_(2.0);
    d = std::max(d, (mean - p).abs().max().item<double>());
  }
  double global = 0.0;
  MPI_Allreduce(&d, &global, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return global;
}

// Every test trains on Fashion-MNIST: without it each one skips (on both ranks, which share the
// file system), and the job exits with the skip code instead of failing deep inside the loader.
class TrainerMpi : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kFashion)) GTEST_SKIP() << "no Fashion-MNIST at " << kFashion;
  }
};

TEST_F(TrainerMpi, TwoRanksWithGlobalBatchBEqualOneRankWithBatchB) {
  ASSERT_EQ(pg().world, 2);
  rt::Trainer two(config("sync", "two_ranks"), pg());
  const rt::TrainResult r = two.run();
  const auto params = snapshot(two);
  EXPECT_EQ(spread_across_ranks(params), 0.0);

  // The noise scale needs the per-rank and the all-reduced gradient: measured here.
  EXPECT_TRUE(std::isfinite(r.b_simple));
  if (pg().rank == 0) {
    std::ifstream f(fs::path(out_dir("two_ranks")) / "summary.json");
    const auto j = nlohmann::json::parse(f);
    EXPECT_TRUE(j["b_simple"].is_number());
    EXPECT_EQ(j["provenance"]["ranks"], 2);

    // Reference: one rank, the whole batch of 64 (same sampler permutation, same init seed).
    rt::ProcessGroup single;
    single.backend = "mpi";
    single.global = std::make_unique<batchlab::optim::InProcessCommunicator>(1);
    rt::Trainer one(config("sync", "one_rank"), single);
    one.run();
    const double diff = max_abs_diff(params, snapshot(one));
    EXPECT_LT(diff, 2e-6) << "2 ranks x 32 vs 1 rank x 64 after 8 steps";
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST_F(TrainerMpi, TwoRanksWithABatchScheduleEqualOneRankWithTheSameSchedule) {
  // Global batch 32 -> 64 once 128 examples are done (update 4) -> 128 once 320 are (update 7),
  // rounded to the 2 ranks by optim::BatchSchedule; each rank reads B_k / 2 of the same global
  // order as the 1-rank run, and the noise scale uses B_small = B_k / 2, B_big = B_k.
  auto sched = [](const std::string& name) {
    rt::TrainConfig c = config("sync", name);
    c.batch_size = 32;
    c.batch_milestones = "128,320";
    c.batch_factor = 2.0;
    c.steps = 10;
    c.eval_every = 5;
    return c;
  };
  rt::Trainer two(sched("sched_two_ranks"), pg());
  const rt::TrainResult r = two.run();
  EXPECT_EQ(r.examples, 4 * 32 + 3 * 64 + 3 * 128);
  EXPECT_EQ(r.noise_small_batch, 64.0);  // the last update is in the B = 128 phase
  EXPECT_EQ(r.noise_big_batch, 128.0);
  EXPECT_TRUE(std::isfinite(r.b_simple));
  const auto params = snapshot(two);
  EXPECT_EQ(spread_across_ranks(params), 0.0);
  if (pg().rank == 0) {
    rt::ProcessGroup single;
    single.backend = "mpi";
    single.global = std::make_unique<batchlab::optim::InProcessCommunicator>(1);
    rt::Trainer one(sched("sched_one_rank"), single);
    const rt::TrainResult r1 = one.run();
    EXPECT_EQ(r1.examples, r.examples);
    EXPECT_TRUE(std::isnan(r1.noise_big_batch));  // one rank: no noise scale
    const double diff = max_abs_diff(params, snapshot(one));
    EXPECT_LT(diff, 2e-6) << "2 ranks vs 1 rank under the same batch schedule after 10 steps";
    // The examples column is the running sum of B_k for both.
    const auto a = metrics_without_timings(out_dir("sched_two_ranks"));
    ASSERT_EQ(a.size(), 3u);
    EXPECT_EQ(a[1].substr(0, a[1].find(',', a[1].find(',') + 1)), "5,192");
    EXPECT_EQ(a[2].substr(0, a[2].find(',', a[2].find(',') + 1)), "10,704");
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST_F(TrainerMpi, AccumulationOnTwoRanksEqualsTheBigBatchOnOne) {
  // 2 ranks x 2 micro-batches of 16 (one all-reduce per update, after the second) vs 1 rank x
  // 64 at once: the same update to float tolerance. The noise scale then compares a rank's
  // micro-batch (B_small = 64 / (2 x 2) = 16) with the all-reduced whole batch (B_big = 64).
  rt::TrainConfig c = config("sync", "acc_two_ranks");
  c.accumulate = 2;
  rt::Trainer two(c, pg());
  const rt::TrainResult r = two.run();
  EXPECT_EQ(r.noise_small_batch, 16.0);
  EXPECT_EQ(r.noise_big_batch, 64.0);
  EXPECT_TRUE(std::isfinite(r.b_simple));
  const auto params = snapshot(two);
  EXPECT_EQ(spread_across_ranks(params), 0.0);
  if (pg().rank == 0) {
    rt::ProcessGroup single;
    single.backend = "mpi";
    single.global = std::make_unique<batchlab::optim::InProcessCommunicator>(1);
    rt::Trainer one(config("sync", "acc_one_rank"), single);
    one.run();
    EXPECT_LT(max_abs_diff(params, snapshot(one)), 2e-6) << "2 ranks x 2 x 16 accumulated vs 1 rank x 64";
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST_F(TrainerMpi, LocalSgdWithPeriodOneEqualsSync) {
  // Averaging parameters after every step == averaging gradients before it, momentum included
  // (the momentum update is linear, so the mean of the ranks' buffers follows the sync buffer).
  rt::Trainer sync(config("sync", "sync"), pg());
  sync.run();
  rt::Trainer local(config("local:1", "local1"), pg());
  local.run();
  EXPECT_LT(max_abs_diff(snapshot(sync), snapshot(local)), 2e-6);
  EXPECT_EQ(spread_across_ranks(snapshot(local)), 0.0);
}

TEST_F(TrainerMpi, LocalSgdAveragesOnlyEveryHSteps) {
  // local:3, 8 steps: averaged after steps 3 and 6, then 2 local steps -> ranks differ.
  rt::Trainer a(config("local:3", "local3"), pg());
  a.run();
  EXPECT_GT(spread_across_ranks(snapshot(a)), 1e-6);
  // local:4, 8 steps: the last step is an averaging step -> ranks agree exactly.
  rt::Trainer b(config("local:4", "local4"), pg());
  b.run();
  EXPECT_EQ(spread_across_ranks(snapshot(b)), 0.0);
  // hier:2:2 on one node: node averaging every 2 steps, global every 4 -> agree after 8.
  rt::Trainer h(config("hier:2:2", "hier"), pg());
  h.run();
  EXPECT_EQ(spread_across_ranks(snapshot(h)), 0.0);
}

TEST_F(TrainerMpi, DilocoWithOuterSgdAtLrOneIsLocalSgdAndCountsItsBytes) {
  // The trainer's ranks run optim::DilocoSync: outer SGD at lr 1 without momentum is local:H.
  rt::TrainConfig c = config("diloco:4", "diloco4");
  c.outer = "sgd";
  c.outer_lr = 1.0;
  c.outer_momentum = 0.0;
  rt::Trainer d(c, pg());
  d.run();
  rt::Trainer l(config("local:4", "local4b"), pg());
  l.run();
  EXPECT_LT(max_abs_diff(snapshot(d), snapshot(l)), 2e-6);
  // The paper's outer Nesterov step with 4-bit pseudo-gradients in 2 fragments: 4 syncs of half
  // the model at half a byte a value (N bytes) plus a 4-byte scale per tensor piece, an eighth of
  // local:4's 8 N bytes; and a different model.
  rt::TrainConfig q = config("streaming-diloco:4:2", "stream4");
  q.outer_bits = 4;
  rt::Trainer s(q, pg());
  s.run();
  // metrics.csv is rank 0's file: only rank 0 reads it (rank 1 could find it half written).
  if (pg().rank == 0) {
    // 8 steps, 2 rounds of every float parameter, in metrics.csv's comm_bytes (last column).
    const auto rows_d = batchlab::realtrain::testing::read_metrics_csv(out_dir("diloco4"));
    const auto rows_l = batchlab::realtrain::testing::read_metrics_csv(out_dir("local4b"));
    ASSERT_EQ(rows_d.front().back(), "comm_bytes");
    EXPECT_EQ(std::stoll(rows_d.back().back()), 2 * 4 * d.parameter_count());
    EXPECT_EQ(rows_l.back().back(), rows_d.back().back());
    const auto rows_s = batchlab::realtrain::testing::read_metrics_csv(out_dir("stream4"));
    const std::int64_t bytes = std::stoll(rows_s.back().back());
    EXPECT_LT(bytes, d.parameter_count() + 4 * 64);
    EXPECT_GT(bytes, d.parameter_count());
  }
  EXPECT_GT(max_abs_diff(snapshot(s), snapshot(l)), 1e-6);
}

TEST_F(TrainerMpi, ResumeContinuesTheNoiseScaleEma) {
  // 16 steps straight vs 8 steps with a checkpoint at 6 (inside the evaluation window 5..8, so
  // each rank's train losses of updates 5 and 6 come from its checkpoint), then --resume to 16:
  // every metrics column but the timings must agree, train_loss and the noise-scale ones
  // (b_simple, grad_sq, trace_sigma) included.
  auto cfg = [](const std::string& name, std::int64_t steps) {
    rt::TrainConfig c = config("sync", name);
    c.steps = steps;
    c.eval_every = 4;
    c.noise_scale_ema = 0.9;
    return c;
  };
  if (pg().rank == 0) {
    fs::remove_all(out_dir("ns_straight"));
    fs::remove_all(out_dir("ns_resumed"));
  }
  MPI_Barrier(MPI_COMM_WORLD);
  const rt::TrainResult straight = rt::Trainer(cfg("ns_straight", 16), pg()).run();
  rt::TrainConfig first = cfg("ns_resumed", 8);
  first.checkpoint_every = 6;
  rt::Trainer(first, pg()).run();
  rt::TrainConfig second = cfg("ns_resumed", 16);
  second.resume = true;
  const rt::TrainResult resumed = rt::Trainer(second, pg()).run();
  ASSERT_TRUE(std::isfinite(straight.b_simple));
  EXPECT_EQ(resumed.b_simple, straight.b_simple);
  if (pg().rank == 0) {
    const auto a = metrics_without_timings(out_dir("ns_straight"));
    const auto b = metrics_without_timings(out_dir("ns_resumed"));
    ASSERT_EQ(a.size(), 5u);  // header + 4 rows
    EXPECT_EQ(a, b);
    EXPECT_EQ(a[4].find(",,"), std::string::npos) << "an empty column (no noise scale?): " << a[4];
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto& g = rt::init_process_group("mpi");
  long job = static_cast<long>(::getpid());
  MPI_Bcast(&job, 1, MPI_LONG, 0, MPI_COMM_WORLD);
  job_dir = fs::temp_directory_path() / ("batchlab_mpi_trainer_" + std::to_string(job));
  const int status = batchlab::testing::run_on_all_ranks(g.rank, "test_trainer_mpi");
  if (g.rank == 0) fs::remove_all(job_dir);
  rt::finalize_process_group();
  return status;
}
