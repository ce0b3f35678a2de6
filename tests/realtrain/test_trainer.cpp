// The trainer on one rank (no launcher): resume == uninterrupted, bit for bit, and bad input
// is a ConfigError before any work. Uses the real Fashion-MNIST files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "optim/communicator.h"
#include "optim/config.h"
#include "realtrain/trainer.h"

namespace {

namespace rt = batchlab::realtrain;
namespace fs = std::filesystem;

const char* kFashion = "/usr/share/datasets/fashion-mnist";

rt::ProcessGroup single_rank() {
  rt::ProcessGroup pg;
  pg.backend = "mpi";
  pg.global = std::make_unique<batchlab::optim::InProcessCommunicator>(1);
  return pg;
}

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("batchlab_test_trainer_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}

rt::TrainConfig small_run(const std::string& optimizer, const fs::path& out) {
  rt::TrainConfig c;
  c.dataset = "fashion-mnist";
  c.data_dir = kFashion;
  c.model = "mlp:32";
  c.batch_size = 64;
  c.optimizer = optimizer;
  c.lr = optimizer == "momentum" ? 0.05 : 1e-3;
  c.momentum = 0.9;
  c.weight_decay = 1e-3;
  // The lr changes before and after the resume point: warm-up over 4 steps, then x0.1 at step 8
  // (milestones are in epochs; Fashion-MNIST has 60000 / 64 = 937 steps per epoch).
  c.warmup = "linear";
  c.warmup_steps = 4;
  c.schedule = "step";
  c.milestones = std::to_string(8.0 / 937.0);
  c.steps = 12;
  c.eval_every = 6;
  c.threads = 1;
  c.output = out.string();
  return c;
}

std::vector<torch::Tensor> snapshot(rt::Trainer& t) {
  std::vector<torch::Tensor> out;
  for (const auto& p : t.parameters()) out.push_back(p.detach().clone());
  return out;
}

class ResumeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ResumeTest, CheckpointAtNThenResumeToTwoNEqualsUninterruptedRunBitForBit) {
  if (!fs::exists(kFashion)) GTEST_SKIP() << "no Fashion-MNIST at " << kFashion;
  const std::string opt = GetParam();
  const fs::path a_dir = scratch("straight_" + opt), b_dir = scratch("resumed_" + opt);

  auto pg = single_rank();
  rt::TrainConfig straight = small_run(opt, a_dir);
  rt::Trainer a(straight, pg);
  a.run();
  const auto reference = snapshot(a);

  // First half: 6 steps, checkpoint at 6 (horizon-free schedule, so --steps may grow on resume).
  rt::TrainConfig first = small_run(opt, b_dir);
  first.steps = 6;
  first.checkpoint_every = 6;
  {
    rt::Trainer b1(first, pg);
    b1.run();
  }
  ASSERT_TRUE(fs::exists(b_dir / "checkpoint" / "rank0.pt"));
  rt::TrainConfig second = small_run(opt, b_dir);
  second.resume = true;
  rt::Trainer b2(second, pg);
  const rt::TrainResult r = b2.run();
  EXPECT_EQ(r.steps, 12);
  const auto resumed = snapshot(b2);
  ASSERT_EQ(resumed.size(), reference.size());
  for (std::size_t i = 0; i < reference.size(); ++i)
    EXPECT_TRUE(torch::equal(resumed[i], reference[i])) << "parameter " << i;

  // The resumed metrics.csv has the rows of both halves, as the straight run's.
  std::ifstream fa(a_dir / "metrics.csv"), fb(b_dir / "metrics.csv");
  std::string la, lb;
  int rows = 0;
  while (std::getline(fa, la)) {
    ASSERT_TRUE(static_cast<bool>(std::getline(fb, lb)));
    EXPECT_EQ(la.substr(0, la.find(',')), lb.substr(0, lb.find(',')));
    ++rows;
  }
  EXPECT_EQ(rows, 3);  // header + steps 6 and 12
  fs::remove_all(a_dir);
  fs::remove_all(b_dir);
}

INSTANTIATE_TEST_SUITE_P(Optimizers, ResumeTest, ::testing::Values("momentum", "adam"));

TEST(Trainer, WritesSummaryWithTimeSplitAndNullNoiseScaleOnOneRank) {
  if (!fs::exists(kFashion)) GTEST_SKIP() << "no Fashion-MNIST at " << kFashion;
  const fs::path dir = scratch("summary");
  auto pg = single_rank();
  rt::TrainConfig c = small_run("momentum", dir);
  c.steps = 5;
  c.eval_every = 5;
  rt::Trainer t(c, pg, {{"argv", {"test"}}});
  const rt::TrainResult r = t.run();
  std::ifstream f(dir / "summary.json");
  const nlohmann::json j = nlohmann::json::parse(f);
  EXPECT_EQ(j["steps"], 5);
  EXPECT_EQ(j["examples"], 5 * 64);
  EXPECT_TRUE(j["b_simple"].is_null());
  EXPECT_TRUE(j["steps_to_target"].is_null());
  EXPECT_EQ(j["provenance"]["ranks"], 1);
  EXPECT_EQ(j["provenance"]["argv"][0], "test");
  EXPECT_NEAR(j["final_accuracy"].get<double>(), r.final_accuracy, 1e-12);
  const auto& split = j["time_split"];
  EXPECT_NEAR(split["compute_s"].get<double>() + split["communication_s"].get<double>() +
                  split["data_s"].get<double>(),
              j["wall_s"].get<double>(), 1e-6);
  fs::remove_all(dir);
}

TEST(Trainer, BadInputIsAConfigErrorBeforeAnyWork) {
  using batchlab::optim::ConfigError;
  rt::TrainConfig c = small_run("momentum", scratch("bad"));
  auto expect_bad = [&](rt::TrainConfig x, int world) {
    EXPECT_THROW(rt::validate_train_config(x, world), ConfigError);
  };
  rt::TrainConfig b = c;
  b.batch_size = 65;
  expect_bad(b, 2);
  b = c;
  b.model = "vgg";
  expect_bad(b, 1);
  b = c;
  b.optimizer = "rmsprop";
  expect_bad(b, 1);
  b = c;
  b.sync = "local:0";
  expect_bad(b, 1);
  b = c;
  b.data_dir = "/nonexistent/fashion";
  expect_bad(b, 1);
  b = c;
  b.steps = 0;
  expect_bad(b, 1);
  b = c;
  b.epochs = 1.0;  // and steps: both given
  expect_bad(b, 1);
  EXPECT_NO_THROW(rt::validate_train_config(c, 1));
  EXPECT_FALSE(fs::exists(c.output));
}

}  // namespace
