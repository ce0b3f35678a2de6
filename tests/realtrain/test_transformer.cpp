// The Transformers (realtrain/transformer.h): shapes, parameter counts from the hand algebra of
// the header, the causal mask (the output at t does not depend on tokens after t), attention
// against a loop over positions, gradients against finite differences, the parameter groups
// (LayerNorm, biases and embeddings excluded from decay and adaptation) and a few steps of every
// update rule the trainer accepts, through optim/ on the models' own groups.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "optim/config.h"
#include "optim/optimizer.h"
#include "optim/registry.h"
#include "realtrain/models.h"
#include "realtrain/torch_backend.h"
#include "realtrain/transformer.h"

namespace {

using batchlab::optim::ConfigError;
using namespace batchlab::realtrain;

std::shared_ptr<Model> gpt(const std::string& name, int vocab = 256) {
  ModelSpec s;
  s.name = name;
  s.num_classes = vocab;
  return make_model(s);
}

std::shared_ptr<Model> vit(const std::string& name, int c, int h, int w, int classes) {
  ModelSpec s;
  s.name = name;
  s.in_channels = c;
  s.height = h;
  s.width = w;
  s.num_classes = classes;
  return make_model(s);
}

std::int64_t block_params(std::int64_t w) { return 12 * w * w + 13 * w; }

TEST(TransformerNames, ParseAndRejectWithTheField) {
  const GptShape g = gpt_shape("gpt:2-64-4-128");
  EXPECT_EQ(g.layers, 2);
  EXPECT_EQ(g.width, 64);
  EXPECT_EQ(g.heads, 4);
  EXPECT_EQ(g.context, 128);
  const VitShape v = vit_shape("vit:4-48-3-6");
  EXPECT_EQ(v.patch, 4);
  EXPECT_EQ(v.width, 48);
  EXPECT_EQ(v.layers, 3);
  EXPECT_EQ(v.heads, 6);
  EXPECT_TRUE(is_language_model("gpt:1-8-2-4"));
  EXPECT_FALSE(is_language_model("vit:4-48-3-6"));
  for (const char* bad : {"gpt:2-64-4", "gpt:2-64-4-128-1", "gpt:2-64-5-128", "gpt:0-64-4-128", "gpt:2-x-4-8",
                          "vit:4-48-3", "vit:4-50-3-6", "gpt:", "vit:-4-48-3-6"})
    EXPECT_THROW(validate_model_name(bad), ConfigError) << bad;
  try {
    validate_model_name("gpt:2-64-5-128");
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("WIDTH 64 is not a multiple of HEADS 5"), std::string::npos) << e.what();
  }
}

TEST(Transformer, GptShapesAndHandCountedParameters) {
  auto m = gpt("gpt:2-32-4-16");
  EXPECT_TRUE(m->is_language_model());
  const auto tokens = torch::randint(0, 256, {3, 16}, torch::kLong);
  EXPECT_EQ(m->forward(tokens).sizes(), (std::vector<std::int64_t>{3, 16, 256}));
  EXPECT_EQ(m->forward(tokens.slice(1, 0, 5)).sizes(), (std::vector<std::int64_t>{3, 5, 256}));
  EXPECT_THROW(m->forward(torch::randint(0, 256, {1, 17}, torch::kLong)), c10::Error);
  // token embedding (tied with the output layer, counted once) + positions + blocks + final LN
  EXPECT_EQ(parameter_count(*m), 256 * 32 + 16 * 32 + 2 * block_params(32) + 2 * 32);
  EXPECT_EQ(parameter_count(*gpt("gpt:6-384-6-256")), 256 * 384 + 256 * 384 + 6 * block_params(384) + 2 * 384);
}

TEST(Transformer, VitShapesAndHandCountedParameters) {
  auto m = vit("vit:4-48-3-6", 1, 28, 28, 10);
  EXPECT_FALSE(m->is_language_model());
  EXPECT_EQ(m->forward(torch::randn({2, 1, 28, 28})).sizes(), (std::vector<std::int64_t>{2, 10}));
  // patch embedding (16 -> 48) + class token + 1 + 49 positions + blocks + final LN + head
  EXPECT_EQ(parameter_count(*m), (16 * 48 + 48) + 48 + 50 * 48 + 3 * block_params(48) + 2 * 48 + (48 * 10 + 10));
  auto c = vit("vit:8-64-2-4", 3, 32, 32, 100);
  EXPECT_EQ(c->forward(torch::randn({1, 3, 32, 32})).sizes(), (std::vector<std::int64_t>{1, 100}));
  EXPECT_EQ(parameter_count(*c), (192 * 64 + 64) + 64 + 17 * 64 + 2 * block_params(64) + 2 * 64 + (64 * 100 + 100));
  EXPECT_THROW(vit("vit:5-48-3-6", 1, 28, 28, 10), ConfigError);
}

// Reference attention: for each query t, a softmax over the allowed keys s written as a loop.
torch::Tensor loop_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, bool causal) {
  const std::int64_t t_len = q.size(-2);
  std::vector<torch::Tensor> rows;
  for (std::int64_t t = 0; t < t_len; ++t) {
    const std::int64_t keys = causal ? t + 1 : t_len;
    torch::Tensor s = (q.select(-2, t).unsqueeze(-2) * k.slice(-2, 0, keys)).sum(-1) / std::sqrt(double(q.size(-1)));
    torch::Tensor p = torch::exp(s - std::get<0>(s.max(-1, true)));
    p = p / p.sum(-1, true);
    rows.push_back((p.unsqueeze(-1) * v.slice(-2, 0, keys)).sum(-2));
  }
  return torch::stack(rows, -2);
}

TEST(Transformer, AttentionMatchesALoopOverPositions) {
  torch::manual_seed(2);
  const auto q = torch::randn({2, 3, 7, 5}, torch::kDouble), k = torch::randn({2, 3, 7, 5}, torch::kDouble),
             v = torch::randn({2, 3, 7, 5}, torch::kDouble);
  for (bool causal : {true, false}) {
    const auto mask = causal ? causal_mask(7, q.options()) : torch::Tensor();
    const auto got = scaled_dot_product_attention(q, k, v, mask), want = loop_attention(q, k, v, causal);
    EXPECT_LT((got - want).abs().max().item<double>(), 1e-12) << causal;
  }
}

TEST(Transformer, GptOutputAtTDoesNotDependOnLaterTokens) {
  torch::manual_seed(3);
  auto m = gpt("gpt:2-32-4-12");
  torch::NoGradGuard no_grad;
  const auto a = torch::randint(0, 256, {2, 12}, torch::kLong);
  const auto base = m->forward(a);
  for (std::int64_t t = 0; t < 11; ++t) {
    auto b = a.clone();
    b.slice(1, t + 1) = torch::randint(0, 256, {2, 11 - t}, torch::kLong);
    const auto out = m->forward(b);
    // Positions 0 .. t see the same tokens: the same logits, bit for bit.
    EXPECT_TRUE(torch::equal(out.slice(1, 0, t + 1), base.slice(1, 0, t + 1))) << t;
    // Later positions do see the change (the mask does not block everything).
    EXPECT_GT((out.slice(1, t + 1) - base.slice(1, t + 1)).abs().max().item<double>(), 1e-6) << t;
  }
}

// Central differences in double on a sample of entries of every parameter tensor.
void expect_gradients_match_finite_differences(Model& m, const std::function<torch::Tensor()>& loss_fn) {
  m.to(torch::kDouble);
  for (auto& p : m.parameters()) p.mutable_grad() = torch::Tensor();
  loss_fn().backward();
  const double h = 1e-6;
  int checked = 0;
  for (const auto& item : m.named_parameters()) {
    torch::Tensor p = item.value();
    const torch::Tensor g = p.grad().contiguous().view(-1);
    torch::Tensor flat = p.data().view(-1);
    for (std::int64_t i = 0; i < flat.numel(); i += std::max<std::int64_t>(1, flat.numel() / 7)) {
      const double w0 = flat[i].item<double>();
      double up, down;
      {
        torch::NoGradGuard no_grad;
        flat[i] = w0 + h;
        up = loss_fn().item<double>();
        flat[i] = w0 - h;
        down = loss_fn().item<double>();
        flat[i] = w0;
      }
      const double fd = (up - down) / (2 * h), ad = g[i].item<double>();
      EXPECT_NEAR(ad, fd, 1e-6 + 1e-5 * std::abs(fd)) << item.key() << "[" << i << "]";
      ++checked;
    }
  }
  EXPECT_GT(checked, 50);
}

TEST(Transformer, GptGradientsMatchFiniteDifferences) {
  torch::manual_seed(4);
  auto m = gpt("gpt:2-8-2-6", 11);
  // Larger weights than the 0.02 initialisation, so attention is far from uniform and every
  // path contributes to the loss.
  {
    torch::NoGradGuard no_grad;
    for (auto& p : m->parameters()) p.normal_(0.0, 0.5);
  }
  const auto tokens = torch::randint(0, 11, {3, 7}, torch::kLong);
  expect_gradients_match_finite_differences(*m, [&] {
    const auto logits = m->forward(tokens.slice(1, 0, 6));
    return torch::nn::functional::cross_entropy(logits.reshape({-1, 11}), tokens.slice(1, 1).reshape({-1}));
  });
}

TEST(Transformer, VitGradientsMatchFiniteDifferences) {
  torch::manual_seed(5);
  auto m = vit("vit:2-8-2-2", 2, 4, 6, 3);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : m->parameters()) p.normal_(0.0, 0.5);
  }
  const auto x = torch::randn({4, 2, 4, 6}, torch::kDouble);
  const auto y = torch::randint(0, 3, {4}, torch::kLong);
  expect_gradients_match_finite_differences(*m, [&] { return torch::nn::functional::cross_entropy(m->forward(x), y); });
}

bool excluded_by_name(const std::string& n) {
  return n.ends_with(".bias") || n.find("ln") != std::string::npos || n.starts_with("tok_emb.") ||
         n.starts_with("pos_emb.") || n.starts_with("cls_token.");
}

TEST(Transformer, LayerNormBiasesAndEmbeddingsAreExcludedFromDecayAndAdaptation) {
  for (const auto& m : {gpt("gpt:2-16-2-8"), vit("vit:4-16-2-2", 1, 8, 8, 10)}) {
    int decayed = 0, excluded = 0;
    for (const auto& g : param_groups(*m)) {
      EXPECT_EQ(g.options.exclude_from_weight_decay, g.options.exclude_from_adaptation) << g.name;
      EXPECT_EQ(g.options.exclude_from_weight_decay, excluded_by_name(g.name)) << g.name;
      (g.options.exclude_from_weight_decay ? excluded : decayed)++;
    }
    // Decayed: the 4 Linear weights of each of the 2 blocks (+ ViT's patch embedding and head).
    EXPECT_EQ(decayed, m->is_language_model() ? 8 : 10);
    // Excluded: per block 2 LN x 2 + 4 biases; final LN 2; GPT: 2 embeddings; ViT: class
    // token, positions, patch-embedding and head biases.
    EXPECT_EQ(excluded, 2 * 8 + 2 + (m->is_language_model() ? 2 : 4));
  }
}

// A few updates of `rule` on one fixed batch, through Optimizer<TorchBackend> on the model's
// own groups; returns the loss before and after.
std::pair<double, double> overfit(Model& m, const std::string& rule, const std::function<torch::Tensor()>& loss_fn) {
  batchlab::optim::OptimizerConfig cfg;
  cfg.name = rule;
  cfg.momentum = 0.9;
  cfg.weight_decay = 0.01;
  cfg.trust_coefficient = 0.02;
  // Shampoo grafts Adam's step length by default: an Adam-sized lr.
  const bool adaptive = rule.starts_with("adam") || rule.starts_with("lamb") || rule == "shampoo";
  const double lr = adaptive ? 3e-3 : rule.starts_with("lars") ? 1.0 : 0.1;
  std::vector<batchlab::optim::GroupOptions> opts;
  std::vector<torch::Tensor> params;
  for (auto& g : param_groups(m)) {
    opts.push_back(g.options);
    params.push_back(g.param);
  }
  batchlab::optim::Optimizer<TorchBackend> opt(cfg, opts);
  double first = 0.0, last = 0.0;
  for (int step = 0; step < 12; ++step) {
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    torch::Tensor loss = loss_fn();
    loss.backward();
    (step == 0 ? first : last) = loss.item<double>();
    std::vector<torch::Tensor> grads;
    for (auto& p : params) grads.push_back(p.grad().defined() ? p.grad() : torch::zeros_like(p));
    torch::NoGradGuard no_grad;
    opt.step(params, grads, lr);
  }
  last = loss_fn().item<double>();
  return {first, last};
}

TEST(Transformer, EveryTrainerRuleStepsBothModelsDownhill) {
  // precond needs a curvature diagonal a real model does not have (train_config refuses it).
  for (const auto& rule : batchlab::optim::rule_names()) {
    if (rule == "precond") continue;
    SCOPED_TRACE(rule);
    torch::manual_seed(6);
    auto g = gpt("gpt:1-16-2-8", 16);
    const auto tokens = torch::randint(0, 16, {8, 9}, torch::kLong);
    const auto [g0, g1] = overfit(*g, rule, [&] {
      return torch::nn::functional::cross_entropy(g->forward(tokens.slice(1, 0, 8)).reshape({-1, 16}),
                                                  tokens.slice(1, 1).reshape({-1}));
    });
    EXPECT_TRUE(std::isfinite(g1));
    EXPECT_LT(g1, g0 - 0.05) << "gpt " << g0 << " -> " << g1;
    auto v = vit("vit:2-16-1-2", 1, 4, 4, 5);
    const auto x = torch::randn({10, 1, 4, 4});
    const auto y = torch::randint(0, 5, {10}, torch::kLong);
    const auto [v0, v1] = overfit(*v, rule, [&] { return torch::nn::functional::cross_entropy(v->forward(x), y); });
    EXPECT_TRUE(std::isfinite(v1));
    EXPECT_LT(v1, v0 - 0.05) << "vit " << v0 << " -> " << v1;
  }
}

}  // namespace
