// Models: output shapes, parameter counts from hand algebra, and the parameter-group flags
// (bias and normalisation parameters excluded from weight decay and layer adaptation).
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "optim/config.h"
#include "realtrain/models.h"

namespace {

using batchlab::realtrain::make_model;
using batchlab::realtrain::ModelSpec;
using batchlab::realtrain::param_groups;

std::int64_t count_params(torch::nn::Module& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

ModelSpec spec(const std::string& name, int c, int h, int w, int classes) {
  ModelSpec s;
  s.name = name;
  s.in_channels = c;
  s.height = h;
  s.width = w;
  s.num_classes = classes;
  return s;
}

TEST(Models, MlpIs784x256x256x10ByDefault) {
  auto m = make_model(spec("mlp", 1, 28, 28, 10));
  EXPECT_EQ(m->forward(torch::randn({3, 1, 28, 28})).sizes(), (std::vector<std::int64_t>{3, 10}));
  // 784*256 + 256 + 256*256 + 256 + 256*10 + 10
  EXPECT_EQ(count_params(*m), 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10);
  auto m2 = make_model(spec("mlp:100-50-20", 1, 28, 28, 7));
  EXPECT_EQ(count_params(*m2), 784 * 100 + 100 + 100 * 50 + 50 + 50 * 20 + 20 + 20 * 7 + 7);
  EXPECT_EQ(m2->forward(torch::randn({2, 1, 28, 28})).size(1), 7);
}

TEST(Models, SimpleCnnHasShallueLayerSizes) {
  auto m = make_model(spec("simple-cnn", 1, 28, 28, 10));
  EXPECT_EQ(m->forward(torch::randn({2, 1, 28, 28})).sizes(), (std::vector<std::int64_t>{2, 10}));
  // conv5x5x1x32 + b, conv5x5x32x64 + b, fc (7*7*64 -> 1024) + b, fc 1024 -> 10 + b
  const std::int64_t expected = (25 * 32 + 32) + (25 * 32 * 64 + 64) + (7 * 7 * 64 * 1024 + 1024) +
                                (1024 * 10 + 10);
  EXPECT_EQ(count_params(*m), expected);
  auto c = make_model(spec("simple-cnn", 3, 32, 32, 10));
  EXPECT_EQ(c->forward(torch::randn({1, 3, 32, 32})).size(1), 10);
}

// The Simple CNN runs channels-last with ReLU after the pool; it must be the same function, with
// the same gradients, as the textbook NCHW conv -> ReLU -> pool written out with functional ops
// on the model's own weights.
TEST(Models, SimpleCnnEqualsTextbookNchwReluThenPool) {
  torch::manual_seed(5);
  auto m = make_model(spec("simple-cnn", 1, 28, 28, 10));
  auto named = m->named_parameters();
  const torch::Tensor x = torch::randn({6, 1, 28, 28});
  const torch::Tensor y = torch::randint(0, 10, {6}, torch::kLong);
  torch::Tensor loss = torch::nn::functional::cross_entropy(m->forward(x), y);
  loss.backward();

  std::map<std::string, torch::Tensor> ref;
  for (const auto& item : named) ref[item.key()] = item.value().detach().contiguous().clone().requires_grad_(true);
  namespace F = torch::nn::functional;
  torch::Tensor h = torch::max_pool2d(torch::relu(torch::conv2d(x, ref["conv1.weight"], ref["conv1.bias"], 1, 2)), 2);
  h = torch::max_pool2d(torch::relu(torch::conv2d(h, ref["conv2.weight"], ref["conv2.bias"], 1, 2)), 2);
  h = torch::relu(torch::linear(h.flatten(1), ref["fc1.weight"], ref["fc1.bias"]));
  torch::Tensor ref_loss = F::cross_entropy(torch::linear(h, ref["fc2.weight"], ref["fc2.bias"]), y);
  ref_loss.backward();
  EXPECT_NEAR(loss.item<double>(), ref_loss.item<double>(), 1e-5);
  for (const auto& item : named) {
    const torch::Tensor g = item.value().grad(), rg = ref[item.key()].grad();
    ASSERT_TRUE(g.defined()) << item.key();
    const double scale = rg.abs().max().item<double>();
    EXPECT_LT((g - rg).abs().max().item<double>(), 1e-4 * (scale + 1e-6)) << item.key();
  }
}

TEST(Models, CifarResNet20HasOptionAShortcutsAndHandCountedParameters) {
  auto m = make_model(spec("resnet20", 3, 32, 32, 10));
  EXPECT_EQ(m->forward(torch::randn({2, 3, 32, 32})).sizes(), (std::vector<std::int64_t>{2, 10}));
  // stem conv + BN; 3 stages x 3 blocks x (2 convs + 2 BNs); option A adds no parameters; fc.
  const std::int64_t stem = 3 * 16 * 9 + 2 * 16;
  const std::int64_t s1 = 3 * (2 * 16 * 16 * 9 + 4 * 16);
  const std::int64_t s2 = (16 * 32 * 9 + 32 * 32 * 9 + 4 * 32) + 2 * (2 * 32 * 32 * 9 + 4 * 32);
  const std::int64_t s3 = (32 * 64 * 9 + 64 * 64 * 9 + 4 * 64) + 2 * (2 * 64 * 64 * 9 + 4 * 64);
  EXPECT_EQ(count_params(*m), stem + s1 + s2 + s3 + 64 * 10 + 10);
  for (const char* name : {"resnet8", "resnet32"})
    EXPECT_EQ(make_model(spec(name, 3, 32, 32, 100))->forward(torch::randn({1, 3, 32, 32})).size(1), 100);
}

TEST(Models, ResNet50HasTorchvisionParameterCount) {
  auto m = make_model(spec("resnet50", 3, 64, 64, 1000));
  // 25,557,032: the published count of ResNet-50 (v1.5 and v1 have the same parameters).
  EXPECT_EQ(count_params(*m), 25557032);
  m->eval();
  torch::NoGradGuard g;
  EXPECT_EQ(m->forward(torch::randn({1, 3, 64, 64})).sizes(), (std::vector<std::int64_t>{1, 1000}));
}

TEST(Models, BiasAndBatchNormParametersAreExcludedFromDecayAndAdaptation) {
  auto m = make_model(spec("resnet8", 3, 32, 32, 10));
  int convs = 0, bn = 0, fc_w = 0, fc_b = 0;
  for (const auto& g : param_groups(*m)) {
    const bool excluded = g.options.exclude_from_weight_decay;
    EXPECT_EQ(excluded, g.options.exclude_from_adaptation) << g.name;
    EXPECT_EQ(g.options.name, g.name);
    if (g.name.find("conv") != std::string::npos) {
      ++convs;
      EXPECT_FALSE(excluded) << g.name;
    } else if (g.name.find("bn") != std::string::npos) {
      ++bn;
      EXPECT_TRUE(excluded) << g.name;
    } else if (g.name == "fc.weight") {
      ++fc_w;
      EXPECT_FALSE(excluded);
    } else if (g.name == "fc.bias") {
      ++fc_b;
      EXPECT_TRUE(excluded);
    } else {
      ADD_FAILURE() << "unexpected parameter " << g.name;
    }
  }
  // resnet8: 1 stem conv + 3 blocks x 2 convs; each BN has gamma and beta.
  EXPECT_EQ(convs, 7);
  EXPECT_EQ(bn, 2 * 7);
  EXPECT_EQ(fc_w, 1);
  EXPECT_EQ(fc_b, 1);
  // One group per parameter tensor, running statistics are not parameters.
  EXPECT_EQ(param_groups(*m).size(), m->parameters().size());

  auto mlp = make_model(spec("mlp", 1, 28, 28, 10));
  for (const auto& g : param_groups(*mlp))
    EXPECT_EQ(g.options.exclude_from_weight_decay, g.name.ends_with(".bias")) << g.name;
}

TEST(Models, ZeroInitResidualZeroesTheLastBnGammaOfEveryBlock) {
  ModelSpec s = spec("resnet8", 3, 32, 32, 10);
  s.zero_init_residual = true;
  auto m = make_model(s);
  int zeroed = 0;
  for (const auto& item : m->named_parameters()) {
    const auto& n = item.key();
    if (n.find("_block") != std::string::npos && n.ends_with("bn2.weight")) {
      EXPECT_EQ(item.value().abs().sum().item<double>(), 0.0) << n;
      ++zeroed;
    }
  }
  EXPECT_EQ(zeroed, 3);
  s.zero_init_residual = false;
  auto plain = make_model(s);
  for (const auto& item : plain->named_parameters())
    if (item.key().ends_with("bn2.weight")) {
      EXPECT_EQ(item.value().min().item<double>(), 1.0);
    }
}

TEST(Models, UnknownNamesAndBadWidthsAreConfigErrors) {
  using batchlab::optim::ConfigError;
  EXPECT_THROW(batchlab::realtrain::validate_model_name("vgg16"), ConfigError);
  EXPECT_THROW(batchlab::realtrain::validate_model_name("resnet21"), ConfigError);
  EXPECT_THROW(batchlab::realtrain::validate_model_name("mlp:256-x"), ConfigError);
  EXPECT_THROW(batchlab::realtrain::validate_model_name("mlp:0"), ConfigError);
  EXPECT_NO_THROW(batchlab::realtrain::validate_model_name("resnet56"));
  EXPECT_NO_THROW(batchlab::realtrain::validate_model_name("mlp:10-10"));
}

}  // namespace
