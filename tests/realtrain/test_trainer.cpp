// The trainer on one rank (no launcher): resume == uninterrupted, bit for bit, and bad input
// is a ConfigError before any work. Uses the real Fashion-MNIST files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "optim/communicator.h"
#include "optim/config.h"
#include "realtrain/checkpoint.h"
#include "realtrain/trainer.h"
#include "tests/fashion_mnist.h"
#include "tests/realtrain/metrics_csv.h"

namespace {

namespace rt = batchlab::realtrain;
namespace fs = std::filesystem;

const std::string kFashion = batchlab::testing::fashion_mnist_dir();

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

using batchlab::realtrain::testing::read_metrics_csv;

// Every metrics.csv column of two runs agrees row for row, except the pure timings (img_per_s,
// wall_s), found by their header names so that a new column is compared by default.
void expect_same_metrics_but_timings(const fs::path& a_dir, const fs::path& b_dir) {
  const auto a = read_metrics_csv(a_dir), b = read_metrics_csv(b_dir);
  ASSERT_FALSE(a.empty());
  ASSERT_EQ(a.size(), b.size()) << "rows";
  const auto& header = a[0];
  ASSERT_EQ(b[0], header);
  for (std::size_t i = 1; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size(), header.size()) << "row " << i;
    ASSERT_EQ(b[i].size(), header.size()) << "row " << i;
    for (std::size_t k = 0; k < header.size(); ++k) {
      if (header[k] == "img_per_s" || header[k] == "wall_s") continue;
      EXPECT_EQ(a[i][k], b[i][k]) << "row " << i << " (step " << a[i][0] << ") column " << header[k];
    }
  }
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
  EXPECT_EQ(read_metrics_csv(b_dir).size(), 3u);  // header + steps 6 and 12
  expect_same_metrics_but_timings(a_dir, b_dir);
  fs::remove_all(a_dir);
  fs::remove_all(b_dir);
}

TEST_P(ResumeTest, StoppedBetweenTwoEvaluationsResumesEveryMetricsColumnButTheTimings) {
  // Evaluations at 6 and 12, checkpoints every 4: the first run stops at 10 (as if killed
  // there), so the checkpoint it leaves is the one at 8, inside the window 7..12 whose train_loss
  // needs the losses of updates 7 and 8 from the first process. The first run's own final row
  // (step 10) is not part of the straight run and must not survive the resume.
  if (!fs::exists(kFashion)) GTEST_SKIP() << "no Fashion-MNIST at " << kFashion;
  const std::string opt = GetParam();
  const fs::path a_dir = scratch("window_straight_" + opt), b_dir = scratch("window_resumed_" + opt);
  auto pg = single_rank();
  rt::Trainer a(small_run(opt, a_dir), pg);
  const rt::TrainResult ra = a.run();

  rt::TrainConfig first = small_run(opt, b_dir);
  first.steps = 10;
  first.checkpoint_every = 4;
  rt::Trainer(first, pg).run();
  ASSERT_EQ(read_metrics_csv(b_dir).size(), 3u);  // header + steps 6 and 10
  rt::TrainConfig second = small_run(opt, b_dir);
  second.checkpoint_every = 4;
  second.resume = true;
  rt::Trainer b(second, pg);
  const rt::TrainResult rb = b.run();

  EXPECT_EQ(read_metrics_csv(b_dir).size(), 3u);  // header + steps 6 and 12
  expect_same_metrics_but_timings(a_dir, b_dir);
  const auto x = snapshot(a), y = snapshot(b);
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_TRUE(torch::equal(x[i], y[i])) << "parameter " << i;
  EXPECT_EQ(rb.steps, ra.steps);
  EXPECT_EQ(rb.examples, ra.examples);
  EXPECT_EQ(rb.final_accuracy, ra.final_accuracy);
  EXPECT_EQ(rb.final_eval_loss, ra.final_eval_loss);
  fs::remove_all(a_dir);
  fs::remove_all(b_dir);
}

// Rewrites a checkpoint in the layout batchlab wrote before it saved named progress values:
// positional counters (wall, comm, data seconds, examples) and no evaluation window.
void rewrite_in_the_older_layout(const fs::path& file) {
  const rt::CheckpointState s = rt::load_checkpoint(file.string());
  torch::serialize::OutputArchive a;
  auto list = [&](const std::string& key, const std::vector<torch::Tensor>& ts) {
    a.write(key + ".count", torch::tensor(static_cast<std::int64_t>(ts.size())));
    for (std::size_t i = 0; i < ts.size(); ++i) a.write(key + "." + std::to_string(i), ts[i]);
  };
  a.write("step", torch::tensor(s.step));
  a.write("prev_lr", torch::tensor(s.prev_lr, torch::kDouble));
  list("params", s.params);
  list("buffers", s.buffers);
  list("optimizer_state", s.optimizer_state);
  torch::Tensor csv = torch::empty({static_cast<std::int64_t>(s.metrics_csv.size())}, torch::kUInt8);
  std::memcpy(csv.data_ptr<std::uint8_t>(), s.metrics_csv.data(), s.metrics_csv.size());
  a.write("metrics_csv", csv);
  const std::vector<double> counters{s.progress.at("wall_s"), s.progress.at("comm_s"), s.progress.at("data_s"),
                                     s.progress.at("examples")};
  a.write("counters", torch::tensor(counters, torch::kDouble));
  a.write("noise_scale", torch::tensor(s.noise_scale, torch::kDouble));
  a.save_to(file.string());
}

TEST(Trainer, OlderCheckpointResumesExactlyAtAnEvaluationAndIsRefusedInsideAWindow) {
  if (!fs::exists(kFashion)) GTEST_SKIP() << "no Fashion-MNIST at " << kFashion;
  auto pg = single_rank();
  const fs::path a_dir = scratch("old_straight"), b_dir = scratch("old_at_eval"), c_dir = scratch("old_in_window");
  rt::Trainer(small_run("momentum", a_dir), pg).run();

  // Checkpoint at 6 = an evaluation step: no window was open, so nothing is missing.
  rt::TrainConfig first = small_run("momentum", b_dir);
  first.steps = 6;
  first.checkpoint_every = 6;
  rt::Trainer(first, pg).run();
  rewrite_in_the_older_layout(b_dir / "checkpoint" / "rank0.pt");
  rt::TrainConfig second = small_run("momentum", b_dir);
  second.resume = true;
  rt::Trainer(second, pg).run();
  expect_same_metrics_but_timings(a_dir, b_dir);

  // Checkpoint at 8, inside the window 7..12: its train_loss cannot be continued.
  first = small_run("momentum", c_dir);
  first.steps = 10;
  first.checkpoint_every = 4;
  rt::Trainer(first, pg).run();
  rewrite_in_the_older_layout(c_dir / "checkpoint" / "rank0.pt");
  second = small_run("momentum", c_dir);
  second.resume = true;
  rt::Trainer refused(second, pg);
  try {
    refused.run();
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("(step 8) predates saving the train losses since the row at step 6"), std::string::npos)
        << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << "one line: " << what;
  }
  EXPECT_EQ(read_metrics_csv(c_dir).size(), 3u) << "the refused resume left metrics.csv (rows 6, 10) as it was";
  for (const auto& d : {a_dir, b_dir, c_dir}) fs::remove_all(d);
}

TEST(Trainer, ResumingACheckpointAtTheLastStepRewritesTheSameSummary) {
  // Nothing is left to train, so the final evaluation must come from the checkpoint.
  if (!fs::exists(kFashion)) GTEST_SKIP() << "no Fashion-MNIST at " << kFashion;
  const fs::path dir = scratch("resume_done");
  auto pg = single_rank();
  rt::TrainConfig c = small_run("momentum", dir);
  c.checkpoint_every = 12;
  const rt::TrainResult done = rt::Trainer(c, pg).run();
  std::ifstream f0(dir / "summary.json");
  const nlohmann::json j0 = nlohmann::json::parse(f0);
  c.resume = true;
  const rt::TrainResult again = rt::Trainer(c, pg).run();
  EXPECT_EQ(again.steps, done.steps);
  EXPECT_EQ(again.status, done.status);
  EXPECT_EQ(again.final_accuracy, done.final_accuracy);
  EXPECT_EQ(again.final_eval_loss, done.final_eval_loss);
  std::ifstream f1(dir / "summary.json");
  const nlohmann::json j1 = nlohmann::json::parse(f1);
  for (const char* key : {"status", "steps", "examples", "final_accuracy", "final_eval_loss", "b_simple"})
    EXPECT_EQ(j1[key], j0[key]) << key;
  EXPECT_EQ(read_metrics_csv(dir).size(), 3u);
  fs::remove_all(dir);
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

// Batch 32 -> 64 once 128 examples are done (after 4 updates) -> 128 once 384 are (after 4
// more); 60000 / 32 = 1875 steps per epoch, so an epoch is 60000 examples.
rt::TrainConfig schedule_run(const fs::path& out) {
  rt::TrainConfig c = small_run("momentum", out);
  c.batch_size = 32;
  c.batch_milestones = "128,384";
  c.batch_factor = 2.0;
  c.warmup = "none";
  c.warmup_steps = 0;
  c.schedule = "constant";
  c.milestones = "";
  c.steps = 10;
  c.eval_every = 2;
  return c;
}

TEST(Trainer, BatchScheduleSetsEachUpdatesBatchTheExamplesColumnAndEpochConversions) {
  if (!fs::exists(kFashion)) GTEST_SKIP() << "no Fashion-MNIST at " << kFashion;
  const fs::path dir = scratch("batch_schedule");
  auto pg = single_rank();
  rt::TrainConfig c = schedule_run(dir);
  // Lengths in epochs count examples: 640 examples = 20 base-batch steps' worth = 10 updates
  // here; the lr drops x0.1 once 384 examples are done, i.e. at update 8 (not 12).
  c.steps = 0;
  c.epochs = 20.0 / 1875.0;
  c.schedule = "step";
  c.milestones = std::to_string(12.0 / 1875.0);
  c.decay_factor = 0.1;
  rt::Trainer t(c, pg);
  EXPECT_EQ(t.total_steps(), 10);
  const std::vector<std::int64_t> want{32, 32, 32, 32, 64, 64, 64, 64, 128, 128};
  for (std::int64_t k = 0; k < 10; ++k) EXPECT_EQ(t.global_batch(k), want[static_cast<std::size_t>(k)]) << k;
  const rt::TrainResult r = t.run();  // throws if a delivered batch has another size
  EXPECT_EQ(r.steps, 10);
  EXPECT_EQ(r.examples, 4 * 32 + 4 * 64 + 2 * 128);

  const auto rows = read_metrics_csv(dir);
  ASSERT_EQ(rows.size(), 6u);  // header + steps 2, 4, 6, 8, 10
  ASSERT_EQ(rows[0][1], "examples");
  ASSERT_EQ(rows[0][2], "epoch");
  ASSERT_EQ(rows[0][3], "lr");
  const std::vector<std::string> steps{"2", "4", "6", "8", "10"}, examples{"64", "128", "256", "384", "640"};
  for (std::size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(rows[i + 1][0], steps[i]);
    EXPECT_EQ(rows[i + 1][1], examples[i]) << "the examples column is the running sum of B_k";
    EXPECT_NEAR(std::stod(rows[i + 1][2]), std::stod(examples[i]) / 60000.0, 1e-7 * std::stod(examples[i]) / 60000.0)
        << "epochs = examples / (1875 x 32), printed with 8 digits";
  }
  EXPECT_EQ(rows[4][3], "0.05");   // lr of update 7
  EXPECT_EQ(rows[5][3], "0.005");  // lr of update 9, after the milestone at update 8

  std::ifstream f(dir / "summary.json");
  const nlohmann::json j = nlohmann::json::parse(f);
  EXPECT_EQ(j["examples"], 640);
  EXPECT_EQ(j["config"]["batch-milestones"], "128,384");
  ASSERT_EQ(j["batch_phases"].size(), 3u);
  EXPECT_EQ(j["batch_phases"][1]["first_step"], 4);
  EXPECT_EQ(j["batch_phases"][2]["batch"], 128);
  fs::remove_all(dir);
}

TEST(Trainer, BatchScheduleTargetReportsExamplesToTargetAsTheRunningSum) {
  if (!fs::exists(kFashion)) GTEST_SKIP() << "no Fashion-MNIST at " << kFashion;
  const fs::path dir = scratch("batch_schedule_target");
  auto pg = single_rank();
  rt::TrainConfig c = schedule_run(dir);
  c.target = 0.01;   // reached at the first evaluation,
  c.eval_every = 6;  // after update 6: 4 x 32 + 2 x 64 examples, not 6 x 32
  rt::Trainer t(c, pg);
  const rt::TrainResult r = t.run();
  ASSERT_EQ(r.status, "reached");
  EXPECT_EQ(r.steps_to_target, 6);
  std::ifstream f(dir / "summary.json");
  const nlohmann::json j = nlohmann::json::parse(f);
  EXPECT_EQ(j["examples_to_target"], 4 * 32 + 2 * 64);
  EXPECT_EQ(j["examples"], 4 * 32 + 2 * 64);
  fs::remove_all(dir);
}

TEST(Trainer, BatchScheduleWithFactorOneOrAFarMilestoneIsTheConstantRunBitForBit) {
  // The sampler walks the epoch the same way across a phase boundary whose batch is unchanged,
  // and a schedule whose first milestone is never reached changes nothing.
  if (!fs::exists(kFashion)) GTEST_SKIP() << "no Fashion-MNIST at " << kFashion;
  auto pg = single_rank();
  rt::TrainConfig base = schedule_run(scratch("constant"));
  base.batch_milestones = "";
  base.batch_factor = 1.0;
  rt::Trainer a(base, pg);
  a.run();
  const auto reference = snapshot(a);
  const auto ref_rows = read_metrics_csv(base.output);
  for (const auto& [milestones, factor] : std::vector<std::pair<std::string, double>>{{"96,200", 1.0}, {"1000000", 5.0}}) {
    rt::TrainConfig s = base;
    s.batch_milestones = milestones;
    s.batch_factor = factor;
    s.output = scratch("same_batch").string();
    rt::Trainer b(s, pg);
    b.run();
    const auto got = snapshot(b);
    for (std::size_t i = 0; i < reference.size(); ++i)
      EXPECT_TRUE(torch::equal(got[i], reference[i])) << milestones << ": parameter " << i;
    const auto rows = read_metrics_csv(s.output);
    ASSERT_EQ(rows.size(), ref_rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i)
      for (std::size_t k : {0, 1, 2, 3, 4, 5, 6}) EXPECT_EQ(rows[i][k], ref_rows[i][k]) << milestones << " row " << i;
    fs::remove_all(s.output);
  }
  fs::remove_all(base.output);
}

TEST(Trainer, ResumeAcrossABatchPhaseChangeEqualsTheUninterruptedRunBitForBit) {
  // 32 -> 64 at update 4 -> 128 at update 7 (milestones 128, 320 examples); checkpoint at 6,
  // so one phase change lies before the resume point and one after it.
  if (!fs::exists(kFashion)) GTEST_SKIP() << "no Fashion-MNIST at " << kFashion;
  auto pg = single_rank();
  const fs::path a_dir = scratch("sched_straight"), b_dir = scratch("sched_resumed");
  auto cfg = [](const fs::path& out, std::int64_t steps) {
    rt::TrainConfig c = schedule_run(out);
    c.batch_milestones = "128,320";
    c.steps = steps;
    c.eval_every = 3;
    return c;
  };
  rt::Trainer a(cfg(a_dir, 12), pg);
  const rt::TrainResult ra = a.run();
  EXPECT_EQ(ra.examples, 4 * 32 + 3 * 64 + 5 * 128);
  rt::TrainConfig first = cfg(b_dir, 6);
  first.checkpoint_every = 6;
  rt::Trainer(first, pg).run();
  rt::TrainConfig second = cfg(b_dir, 12);
  second.resume = true;
  rt::Trainer b(second, pg);
  const rt::TrainResult rb = b.run();
  EXPECT_EQ(rb.steps, 12);
  EXPECT_EQ(rb.examples, ra.examples);
  const auto x = snapshot(a), y = snapshot(b);
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_TRUE(torch::equal(x[i], y[i])) << "parameter " << i;
  const auto ma = read_metrics_csv(a_dir), mb = read_metrics_csv(b_dir);
  ASSERT_EQ(ma.size(), 5u);  // header + steps 3, 6, 9, 12
  ASSERT_EQ(mb.size(), ma.size());
  for (std::size_t i = 0; i < ma.size(); ++i)
    for (std::size_t k = 0; k < 7; ++k) EXPECT_EQ(ma[i][k], mb[i][k]) << "row " << i << " column " << k;

  // Resuming that checkpoint (still at update 6) under another schedule is refused: the data
  // order and the examples column would shift.
  rt::TrainConfig other = cfg(b_dir, 12);
  other.batch_milestones = "64,320";
  other.resume = true;
  EXPECT_THROW(rt::Trainer(other, pg).run(), std::runtime_error);
  fs::remove_all(a_dir);
  fs::remove_all(b_dir);
}

TEST(Trainer, BatchScheduleGrownPastTheInt64RangeStaysAtTheCap) {
  // 64 milestones of x2 (every 100 examples) from B = 32 with a cap of 256: 32 x 2^k passes 2^63
  // at k = 59 (6000 examples, update ~29); from update 7 (384 examples) on every phase holds
  // the cap (a wrapped-around llround made the later ones batch 1).
  if (!fs::exists(kFashion)) GTEST_SKIP() << "no Fashion-MNIST at " << kFashion;
  auto pg = single_rank();
  rt::TrainConfig c = schedule_run(scratch("batch_overflow"));
  std::string milestones;
  for (int k = 1; k <= 64; ++k) {
    if (k > 1) milestones += ',';
    milestones += std::to_string(100 * k);
  }
  c.batch_milestones = milestones;
  c.batch_max = 256;
  rt::Trainer t(c, pg);
  EXPECT_EQ(t.global_batch(0), 32);
  EXPECT_EQ(t.global_batch(4), 64);   // 128 examples >= 100
  EXPECT_EQ(t.global_batch(6), 128);  // 256 >= 200
  for (std::int64_t k = 7; k < 80; ++k) EXPECT_EQ(t.global_batch(k), 256) << "update " << k;
  fs::remove_all(c.output);
}

TEST(Trainer, BadInputIsAConfigErrorBeforeAnyWork) {
  // The valid base config must pass validation, data-dir included.
  if (!fs::exists(kFashion)) GTEST_SKIP() << "no Fashion-MNIST at " << kFashion;
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
  // batch schedule
  for (const std::string m : {"256,128", "128,128", "0", "abc", "12.5", "128,", ",128", "-64"}) {
    b = c;
    b.batch_milestones = m;
    b.batch_factor = 2.0;
    expect_bad(b, 1);
  }
  b = c;
  b.batch_milestones = "1000";
  for (double f : {0.0, -2.0, std::nan("")}) {
    b.batch_factor = f;
    expect_bad(b, 1);
  }
  b = c;
  b.batch_milestones = "1000";
  b.batch_factor = 5.0;
  b.batch_max = 32;  // below the batch size 64
  expect_bad(b, 1);
  b.batch_max = -1;
  expect_bad(b, 1);
  b.batch_max = 321;  // the cap is a batch too: not divisible by 2 ranks
  expect_bad(b, 2);
  EXPECT_NO_THROW(rt::validate_train_config(b, 1));
  b.batch_max = 320;
  EXPECT_NO_THROW(rt::validate_train_config(b, 2));
  b = c;
  b.batch_factor = 5.0;  // without milestones: no effect, so a mistake
  expect_bad(b, 1);
  b = c;
  b.batch_max = 128;
  expect_bad(b, 1);
  // A grown batch past the int64 range without a cap is an error, not a wrapped-around batch (it
  // used to become 1: llround overflowed to INT64_MIN and max(b, ranks) kept the ranks).
  b = c;
  b.batch_milestones = "1000";
  b.batch_factor = 1e30;
  expect_bad(b, 1);
  try {
    b = c;
    b.batch_milestones = "256,128";
    rt::validate_train_config(b, 1);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("train.batch-milestones"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(rt::validate_train_config(c, 1));
  EXPECT_FALSE(fs::exists(c.output));
}

}  // namespace
