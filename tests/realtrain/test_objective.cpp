// The training objective (realtrain/objective.h): language-model batches are windows shifted by
// one, the loss is the mean over every target token, micro-batch losses add up to the big
// batch's (so accumulated gradients equal the big-batch gradient), evaluation sums match a
// direct computation, and bf16 autocast keeps float32 parameters and gradients and restores the
// autocast state.
#include <gtest/gtest.h>

#include <ATen/autocast_mode.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "optim/config.h"
#include "realtrain/data/sources.h"
#include "realtrain/objective.h"

namespace {

using namespace batchlab::realtrain;
namespace F = torch::nn::functional;

std::shared_ptr<Model> tiny_gpt() {
  ModelSpec s;
  s.name = "gpt:2-16-2-8";
  s.num_classes = 256;
  return make_model(s);
}

batchlab::data::Batch token_batch(std::int64_t n, std::int64_t len, std::uint64_t seed) {
  batchlab::data::Batch b;
  b.count = n;
  std::mt19937_64 rng(seed);
  for (std::int64_t i = 0; i < n * len; ++i) b.tokens.push_back(static_cast<std::int64_t>(rng() % 256));
  return b;
}

// A sequence source over fixed windows, for batch_tensors' shape logic.
class Windows final : public batchlab::data::ExampleSource {
 public:
  explicit Windows(std::int64_t len) : len_(len) {}
  std::int64_t size() const override { return 100; }
  int num_classes() const override { return 256; }
  batchlab::data::ImageShape shape() const override { return {0, 0, 0}; }
  std::int64_t write_example(std::int64_t, bool, std::mt19937_64&, float*) const override { return 0; }
  std::int64_t sequence_length() const override { return len_; }
  void write_tokens(std::int64_t index, bool, std::mt19937_64&, std::int64_t* out) const override {
    for (std::int64_t t = 0; t < len_; ++t) out[t] = (index * 7 + t * 3) % 256;
  }
  std::string description() const override { return "windows"; }

 private:
  std::int64_t len_;
};

TEST(Objective, LanguageModelTargetsAreTheInputsShiftedByOne) {
  Windows src(9);
  auto b = token_batch(4, 9, 1);
  const BatchTensors t = batch_tensors(b, src, torch::kCPU);
  EXPECT_EQ(t.inputs.sizes(), (std::vector<std::int64_t>{4, 8}));
  EXPECT_EQ(t.targets.sizes(), (std::vector<std::int64_t>{4, 8}));
  for (std::int64_t i = 0; i < 4; ++i)
    for (std::int64_t k = 0; k < 8; ++k) {
      EXPECT_EQ(t.inputs[i][k].item<std::int64_t>(), b.tokens[static_cast<std::size_t>(i * 9 + k)]);
      EXPECT_EQ(t.targets[i][k].item<std::int64_t>(), b.tokens[static_cast<std::size_t>(i * 9 + k + 1)]);
    }
}

TEST(Objective, LossIsTheMeanOverTargetTokensAndMicroBatchesAddUp) {
  torch::manual_seed(1);
  auto m = tiny_gpt();
  Windows src(9);
  auto b = token_batch(8, 9, 2);
  const BatchTensors t = batch_tensors(b, src, torch::kCPU);
  // Direct: log-softmax of every position's logits at its target, averaged over 8 x 8 tokens.
  const torch::Tensor logp = torch::log_softmax(m->forward(t.inputs), -1);
  const double direct = -logp.gather(2, t.targets.unsqueeze(2)).mean().item<double>();
  const torch::Tensor full = batch_loss(*m, t, Precision::kFloat32);
  EXPECT_NEAR(full.item<double>(), direct, 1e-6);
  // Gradient of the big batch vs the sum of 4 micro-batch losses / 4 (accumulated).
  std::vector<torch::Tensor> params = m->parameters();
  for (auto& p : params) p.mutable_grad() = torch::Tensor();
  full.backward();
  std::vector<torch::Tensor> big;
  for (auto& p : params) big.push_back(p.grad().clone());
  for (auto& p : params) p.mutable_grad() = torch::Tensor();
  double micro_sum = 0.0;
  for (int k = 0; k < 4; ++k) {
    torch::Tensor l = batch_loss(*m, t.slice(k, 4), Precision::kFloat32) / 4.0;
    micro_sum += l.item<double>();
    l.backward();
  }
  EXPECT_NEAR(micro_sum, full.item<double>(), 1e-6);
  for (std::size_t i = 0; i < params.size(); ++i)
    EXPECT_LT((params[i].grad() - big[i]).abs().max().item<double>(), 1e-6 + 1e-5 * big[i].abs().max().item<double>()) << i;
}

TEST(Objective, EvaluationIndicesAreAllOrEvenlySpaced) {
  EXPECT_EQ(evaluation_indices(5, 0), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(evaluation_indices(5, 9), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(evaluation_indices(10, 4), (std::vector<std::int64_t>{0, 2, 5, 7}));
}

TEST(Objective, TextEvaluationSumsMatchADirectComputation) {
  const auto dir = std::filesystem::temp_directory_path() / ("batchlab_objective_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream f(dir / "c.txt");
    for (int i = 0; i < 3000; ++i) f << "the quick brown fox " << i << " jumps over the lazy dog\n";
  }
  batchlab::data::TextSource val((dir / "c.txt").string(), "test", 8);
  torch::manual_seed(2);
  auto m = tiny_gpt();
  const auto idx = evaluation_indices(val.size(), 5);
  const EvalSums s = evaluate_examples(*m, val, idx, torch::kCPU, Precision::kFloat32);
  EXPECT_EQ(s.items, 5.0 * 8.0);
  double loss = 0.0, correct = 0.0;
  torch::NoGradGuard no_grad;
  m->eval();
  for (const std::int64_t i : idx) {
    std::vector<std::int64_t> w(9);
    std::mt19937_64 rng(0);
    val.write_tokens(i, false, rng, w.data());
    const torch::Tensor x = torch::tensor(w, torch::kLong);
    const torch::Tensor logits = m->forward(x.slice(0, 0, 8).unsqueeze(0)).squeeze(0);
    loss += F::cross_entropy(logits, x.slice(0, 1), F::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
    correct += logits.argmax(1).eq(x.slice(0, 1)).sum().item<double>();
  }
  EXPECT_NEAR(s.loss, loss, 1e-4 * loss);
  EXPECT_EQ(s.correct, correct);
  std::filesystem::remove_all(dir);
}

TEST(Objective, Bf16AutocastKeepsFloat32MasterWeightsAndGradients) {
  torch::manual_seed(3);
  auto m = tiny_gpt();
  Windows src(9);
  auto b = token_batch(8, 9, 4);
  const BatchTensors t = batch_tensors(b, src, torch::kCPU);
  const double fp32 = batch_loss(*m, t, Precision::kFloat32).item<double>();
  torch::Tensor l = batch_loss(*m, t, Precision::kBFloat16);
  EXPECT_EQ(l.scalar_type(), torch::kFloat);
  EXPECT_NEAR(l.item<double>(), fp32, 0.02 * fp32);  // bf16 keeps ~3 significant digits
  EXPECT_NE(l.item<double>(), fp32) << "the forward ran in bf16";
  EXPECT_FALSE(at::autocast::is_cpu_enabled()) << "the guard restores the autocast state";
  l.backward();
  for (const auto& p : m->parameters()) {
    EXPECT_EQ(p.scalar_type(), torch::kFloat);
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().scalar_type(), torch::kFloat);
    EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
  }
  EXPECT_EQ(parse_precision("bf16"), Precision::kBFloat16);
  EXPECT_THROW(parse_precision("fp16"), batchlab::optim::ConfigError);
}

}  // namespace
