// The trainer on the Transformer workloads, one rank: a GPT on the text dataset and a ViT on
// Fashion-MNIST through the same loop; --accumulate N equals the big-batch update to float
// tolerance and feeds the noise scale a micro-batch and the whole batch; --target-loss stops a
// run once the validation loss is low enough; --precision bf16 keeps float32 weights; bad
// combinations are a ConfigError before any work.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "optim/communicator.h"
#include "optim/config.h"
#include "realtrain/data/data_error.h"
#include "realtrain/data/sources.h"
#include "realtrain/objective.h"
#include "realtrain/trainer.h"
#include "tests/fashion_mnist.h"
#include "tests/realtrain/metrics_csv.h"

namespace {

namespace rt = batchlab::realtrain;
namespace fs = std::filesystem;
using batchlab::realtrain::testing::read_metrics_csv;

rt::ProcessGroup single_rank() {
  rt::ProcessGroup pg;
  pg.backend = "mpi";
  pg.global = std::make_unique<batchlab::optim::InProcessCommunicator>(1);
  return pg;
}

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("batchlab_test_trainer_lm_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// ~150 KB of sentences over a small vocabulary, the same every time.
fs::path write_corpus(const fs::path& dir) {
  static const char* words[] = {"the", "a", "dictionary", "word", "of", "English", "is", "defined", "as",
                                "meaning", "and", "in", "to", "old", "new", "form", "noun", "verb"};
  std::mt19937_64 rng(7);
  const fs::path file = dir / "corpus.txt";
  std::ofstream f(file);
  for (int line = 0; line < 5000; ++line) {
    const int n = 3 + static_cast<int>(rng() % 6);
    for (int w = 0; w < n; ++w) f << (w ? " " : "") << words[rng() % 18];
    f << ".\n";
  }
  return file;
}

rt::TrainConfig lm_run(const fs::path& corpus, const fs::path& out) {
  rt::TrainConfig c;
  c.dataset = "text";
  c.data_dir = corpus.string();
  c.model = "gpt:1-32-2-16";
  c.batch_size = 16;
  c.optimizer = "momentum";
  c.lr = 0.05;
  c.momentum = 0.9;
  c.steps = 3;
  c.eval_every = 3;
  c.eval_examples = 32;
  c.threads = 1;
  c.output = out.string();
  return c;
}

std::vector<torch::Tensor> snapshot(rt::Trainer& t) {
  std::vector<torch::Tensor> out;
  for (const auto& p : t.parameters()) out.push_back(p.detach().clone());
  return out;
}

double max_abs_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double d = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, (a[i] - b[i]).abs().max().item<double>());
  return d;
}

nlohmann::json summary(const fs::path& dir) {
  std::ifstream f(dir / "summary.json");
  return nlohmann::json::parse(f);
}

TEST(TrainerLm, AccumulatedMicroBatchesEqualTheBigBatchUpdate) {
  const fs::path dir = scratch("accumulate");
  const fs::path corpus = write_corpus(dir);
  auto pg = single_rank();
  rt::Trainer big(lm_run(corpus, dir / "big"), pg);
  big.run();
  rt::TrainConfig c = lm_run(corpus, dir / "micro");
  c.accumulate = 4;
  rt::Trainer micro(c, pg);
  micro.run();
  // Same examples, same windows, gradients summed in another order: float rounding only.
  const double diff = max_abs_diff(snapshot(big), snapshot(micro));
  EXPECT_LT(diff, 1e-6) << "16 at once vs 4 x 4 accumulated, after 3 momentum steps";
  EXPECT_GT(max_abs_diff(snapshot(big), [&] {
              rt::TrainConfig d = lm_run(corpus, dir / "half");
              d.batch_size = 8;
              rt::Trainer t(d, pg);
              t.run();
              return snapshot(t);
            }()),
            1e-4)
      << "a different batch gives different parameters (the comparison can fail)";
  const auto a = read_metrics_csv(dir / "big"), b = read_metrics_csv(dir / "micro");
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_NEAR(std::stod(a[1][4]), std::stod(b[1][4]), 1e-5) << "train_loss";
  EXPECT_NEAR(std::stod(a[1][5]), std::stod(b[1][5]), 1e-5) << "eval_loss";
  fs::remove_all(dir);
}

TEST(TrainerLm, AccumulationOnImagesEqualsTheBigBatchUpdate) {
  const std::string fashion = batchlab::testing::fashion_mnist_dir();
  if (!fs::exists(fashion)) GTEST_SKIP() << "no Fashion-MNIST at " << fashion;
  const fs::path dir = scratch("accumulate_images");
  auto pg = single_rank();
  auto run = [&](std::int64_t accumulate, const std::string& name) {
    rt::TrainConfig c;
    c.data_dir = fashion;
    c.model = "mlp:32";
    c.batch_size = 64;
    c.optimizer = "adamw";
    c.lr = 1e-3;
    c.weight_decay = 0.01;
    c.steps = 4;
    c.eval_every = 4;
    c.threads = 1;
    c.accumulate = accumulate;
    c.output = (dir / name).string();
    rt::Trainer t(c, pg);
    t.run();
    return snapshot(t);
  };
  EXPECT_LT(max_abs_diff(run(1, "one"), run(8, "eight")), 1e-5) << "adamw, 64 at once vs 8 x 8";
  fs::remove_all(dir);
}

// The estimator's inputs with accumulation on one rank: |g_micro|^2 of micro-batch 0 (B/4
// examples) and |g_full|^2 of the whole batch, computed here from the same initial model and
// the same step-0 windows; with EMA decay 0 the metrics row holds that step's estimates.
TEST(TrainerLm, AccumulationMeasuresTheNoiseScaleFromMicroAndWholeBatch) {
  const fs::path dir = scratch("noise");
  const fs::path corpus = write_corpus(dir);
  auto pg = single_rank();
  rt::TrainConfig c = lm_run(corpus, dir / "run");
  c.accumulate = 4;
  c.steps = 1;
  c.eval_every = 1;
  c.noise_scale_ema = 0.0;
  rt::Trainer t(c, pg);
  const rt::TrainResult r = t.run();
  EXPECT_EQ(r.noise_small_batch, 4.0);
  EXPECT_EQ(r.noise_big_batch, 16.0);
  EXPECT_TRUE(std::isfinite(r.b_simple));
  EXPECT_TRUE(summary(dir / "run")["b_simple"].is_number());

  // Reference: the trainer's initial model (seeded the same way) and its step-0 batch.
  torch::manual_seed(c.seed);
  rt::ModelSpec spec;
  spec.name = c.model;
  spec.num_classes = 256;
  auto model = rt::make_model(spec);
  batchlab::data::DatasetOptions o;
  o.context_length = 16;
  auto src = batchlab::data::open_dataset("text", corpus.string(), "train", o);
  batchlab::data::Loader loader(src, batchlab::data::ShardedSampler(src->size(), 16, 0, 1, c.seed), true, c.seed, 1, 1);
  batchlab::data::Batch batch = loader.next();
  const rt::BatchTensors all = rt::batch_tensors(batch, *src, torch::kCPU);
  auto sq_grad = [&](const rt::BatchTensors& b) {
    for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
    rt::batch_loss(*model, b, rt::Precision::kFloat32).backward();
    double sq = 0.0;
    for (auto& p : model->parameters()) sq += p.grad().to(torch::kDouble).pow(2).sum().item<double>();
    return sq;
  };
  const double small = sq_grad(all.slice(0, 4)), whole = sq_grad(all);
  const double g2 = (16.0 * whole - 4.0 * small) / (16.0 - 4.0);
  const double tr = (small - whole) / (1.0 / 4.0 - 1.0 / 16.0);
  const auto rows = read_metrics_csv(dir / "run");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][9], "grad_sq");
  EXPECT_EQ(rows[0][10], "trace_sigma");
  EXPECT_NEAR(std::stod(rows[1][9]), g2, 1e-4 * std::abs(g2) + 1e-6);
  EXPECT_NEAR(std::stod(rows[1][10]), tr, 1e-4 * std::abs(tr) + 1e-6);
  EXPECT_NEAR(r.b_simple, tr / g2, 1e-3 * std::abs(tr / g2));
  fs::remove_all(dir);
}

TEST(TrainerLm, TargetLossStopsOnceTheValidationLossIsLowEnough) {
  const fs::path dir = scratch("target");
  const fs::path corpus = write_corpus(dir);
  auto pg = single_rank();
  rt::TrainConfig c = lm_run(corpus, dir / "reached");
  c.optimizer = "adamw";
  c.lr = 3e-3;
  c.steps = 40;
  c.eval_every = 5;
  // ln 256 = 5.545 at initialisation; a few Adam steps learn the byte frequencies of the corpus.
  c.target_loss = 4.0;
  rt::Trainer t(c, pg);
  const rt::TrainResult r = t.run();
  ASSERT_EQ(r.status, "reached");
  EXPECT_LE(r.final_eval_loss, 4.0);
  EXPECT_EQ(r.steps, r.steps_to_target);
  EXPECT_LT(r.steps, 40);
  const auto rows = read_metrics_csv(dir / "reached");
  for (std::size_t i = 1; i + 1 < rows.size(); ++i) EXPECT_GT(std::stod(rows[i][5]), 4.0) << "row " << i;
  const auto j = summary(dir / "reached");
  EXPECT_EQ(j["target_loss"], 4.0);
  EXPECT_TRUE(j["target"].is_null());
  // gpt:1-32-2-16 by hand: tokens + positions + 1 block + final LayerNorm.
  EXPECT_EQ(j["parameters"], 256 * 32 + 16 * 32 + (12 * 32 * 32 + 13 * 32) + 2 * 32);
  EXPECT_EQ(t.parameter_count(), j["parameters"].get<std::int64_t>());
  EXPECT_NEAR(j["final_bits_per_byte"].get<double>(), r.final_eval_loss / std::log(2.0), 1e-12);
  EXPECT_NEAR(j["tokens_per_s"].get<double>(), 16.0 * j["img_per_s"].get<double>(), 1e-6 * j["tokens_per_s"].get<double>());
  EXPECT_EQ(j["config"]["data-dir"], corpus.string());

  rt::TrainConfig never = lm_run(corpus, dir / "never");
  never.target_loss = 0.01;
  EXPECT_EQ(rt::Trainer(never, pg).run().status, "not_reached");
  fs::remove_all(dir);
}

TEST(TrainerLm, Bf16AutocastTrainsWithFloat32Weights) {
  const fs::path dir = scratch("bf16");
  const fs::path corpus = write_corpus(dir);
  auto pg = single_rank();
  rt::TrainConfig c = lm_run(corpus, dir / "run");
  c.precision = "bf16";
  c.optimizer = "adamw";
  c.lr = 3e-3;
  c.steps = 20;
  c.eval_every = 20;
  rt::Trainer t(c, pg);
  const rt::TrainResult r = t.run();
  EXPECT_TRUE(std::isfinite(r.final_eval_loss));
  EXPECT_LT(r.final_eval_loss, std::log(256.0) - 0.5) << "it learnt";
  for (const auto& p : t.parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat);
  EXPECT_EQ(summary(dir / "run")["config"]["precision"], "bf16");
  fs::remove_all(dir);
}

TEST(TrainerLm, VitTrainsOnFashionMnistThroughTheSameLoop) {
  const std::string fashion = batchlab::testing::fashion_mnist_dir();
  if (!fs::exists(fashion)) GTEST_SKIP() << "no Fashion-MNIST at " << fashion;
  const fs::path dir = scratch("vit");
  auto pg = single_rank();
  rt::TrainConfig c;
  c.data_dir = fashion;
  c.model = "vit:7-32-1-2";
  c.batch_size = 64;
  c.optimizer = "adamw";
  c.lr = 3e-3;
  c.steps = 30;
  c.eval_every = 30;
  c.eval_examples = 1000;
  c.threads = 1;
  c.output = (dir / "run").string();
  rt::Trainer t(c, pg);
  const rt::TrainResult r = t.run();
  EXPECT_GT(r.final_accuracy, 0.3) << "well above chance (0.1) after 30 steps";
  const auto j = summary(dir / "run");
  EXPECT_EQ(j["parameters"], t.parameter_count());
  EXPECT_FALSE(j.contains("tokens_per_s"));
  fs::remove_all(dir);
}

// Expects a ConfigError whose message contains `what`.
void expect_config_error(const rt::TrainConfig& c, const std::string& what) {
  auto pg = single_rank();
  try {
    rt::Trainer t(c, pg);
    ADD_FAILURE() << "no ConfigError for " << what;
  } catch (const batchlab::optim::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

TEST(TrainerLm, BadCombinationsAreConfigErrorsBeforeAnyWork) {
  const fs::path dir = scratch("bad");
  const fs::path corpus = write_corpus(dir);
  const rt::TrainConfig ok = lm_run(corpus, dir / "out");
  rt::TrainConfig c = ok;
  c.dataset = "fashion-mnist";
  c.data_dir = "";
  expect_config_error(c, "train.model = gpt:1-32-2-16: a language model trains on --dataset text");
  c = ok;
  c.model = "mlp";
  expect_config_error(c, "train.dataset = text: needs a language model");
  c = ok;
  c.accumulate = 3;
  expect_config_error(c, "train.accumulate = 3: does not divide the per-rank batch 16");
  c = ok;
  c.accumulate = 0;
  expect_config_error(c, "train.accumulate = 0");
  c = ok;
  c.target = 0.5;
  c.target_loss = 2.0;
  expect_config_error(c, "give --target (accuracy) or --target-loss, not both");
  c = ok;
  c.precision = "fp16";
  expect_config_error(c, "train.precision = fp16");
  c = ok;
  c.eval_examples = -1;
  expect_config_error(c, "train.eval-examples = -1");
  c = ok;
  c.data_dir = (dir / "missing.txt").string();
  expect_config_error(c, "no such file or directory");
  c = ok;
  c.dataset = "cifar10";
  c.model = "mlp";
  c.data_dir = "";
  expect_config_error(c, "dataset cifar10 has no default location");
  c = ok;
  c.dataset = "mnist-typo";
  expect_config_error(c, "train.dataset = mnist-typo: unknown");
  // A corpus that exists but is not text: the dataset's DataError, naming the file.
  std::ofstream(dir / "binary.bin") << std::string("\x01\x02\x03\x04\x05\x06", 6) << std::string(100000, '\0');
  c = ok;
  c.data_dir = (dir / "binary.bin").string();
  auto pg = single_rank();
  EXPECT_THROW(rt::Trainer(c, pg), batchlab::data::DataError);
  fs::remove_all(dir);
}

}  // namespace
