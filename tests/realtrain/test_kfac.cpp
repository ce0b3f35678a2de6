// K-FAC (realtrain/kfac.h): with exact factors on a linear least-squares layer the preconditioned
// gradient is the Gauss-Newton step (J'J formed explicitly here); a convolution's KFC factors
// equal a hand computation of the patches (loops, not im2col); the factor EMA follows
// eps_k = min(1 - 1/k, decay); unsupported layers are refused naming the layer.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "optim/config.h"
#include "realtrain/kfac.h"
#include "realtrain/models.h"

namespace {

namespace nn = torch::nn;
using batchlab::realtrain::Kfac;
using batchlab::realtrain::KfacConfig;
using batchlab::realtrain::Model;

class OneLinear final : public Model {
 public:
  OneLinear(int in, int out) : fc_(register_module("fc", nn::Linear(in, out))) {}
  torch::Tensor forward(torch::Tensor x) override { return run_layer(fc_, x); }
  bool reports_layers() const override { return true; }

 private:
  nn::Linear fc_;
};

class OneConv final : public Model {
 public:
  explicit OneConv(nn::Conv2dOptions o) : conv_(register_module("conv", nn::Conv2d(o))) {}
  torch::Tensor forward(torch::Tensor x) override { return run_layer(conv_, x); }
  bool reports_layers() const override { return true; }

 private:
  nn::Conv2d conv_;
};

class WithNorm final : public Model {
 public:
  WithNorm() : fc_(register_module("fc", nn::Linear(3, 3))), norm_(register_module("norm", nn::LayerNorm(nn::LayerNormOptions({3})))) {}
  torch::Tensor forward(torch::Tensor x) override { return norm_->forward(run_layer(fc_, x)); }
  bool reports_layers() const override { return true; }

 private:
  nn::Linear fc_;
  nn::LayerNorm norm_;
};

KfacConfig exact_config(double damping) {
  KfacConfig c;
  c.damping = damping;
  c.decay = 0.0;  // no EMA: the factors of this batch
  c.update_every = 1;
  return c;
}

// Least squares loss_n = 1/2 |W a_n + b - t_n|^2 (mean over n). Its output Hessian is I, so the
// Gauss-Newton matrix is J'J / N with J = d y / d [W b] and the Kronecker factors are A = E[a~ a~'],
// G = I. The exact G comes from K = out backward passes, the k-th of sqrt(K) e_k (per example),
// whose factor mean over the passes is E_k[K e_k e_k'] = I; the gradient is the loss's own.
TEST(Kfac, ExactFactorsOnLinearLeastSquaresGiveTheGaussNewtonStep) {
  torch::manual_seed(3);
  constexpr int kIn = 4, kOut = 3, kN = 16;
  OneLinear model(kIn, kOut);
  model.to(torch::kDouble);
  const torch::Tensor x = torch::randn({kN, kIn}, torch::kDouble), t = torch::randn({kN, kOut}, torch::kDouble);
  Kfac kfac(model, "one-linear", exact_config(1e-24));  // sqrt(lambda) = 1e-12
  auto params = model.named_parameters();
  const torch::Tensor W = params["fc.weight"], b = params["fc.bias"];
  // The loss's gradient first (no statistics are gathered before begin_update) ...
  (0.5 * (model.forward(x) - t).square().sum(1).mean()).backward();
  const torch::Tensor gW = W.grad().clone(), gb = b.grad().clone();
  // ... then the K passes that give the exact factors.
  kfac.begin_update(0, kN);
  for (int k = 0; k < kOut; ++k) {
    const torch::Tensor y = model.forward(x);
    (std::sqrt(double(kOut)) * y.select(1, k).sum() / kN).backward();
  }
  W.mutable_grad().copy_(gW);
  b.mutable_grad().copy_(gb);
  // The gradient and J'J in the parameter order [W row k, b_k] ... as K-FAC's matrix [W b].
  torch::NoGradGuard no_grad;
  const torch::Tensor at = torch::cat({x, torch::ones({kN, 1}, torch::kDouble)}, 1);  // a~
  const torch::Tensor r = at.mm(torch::cat({W, b.unsqueeze(1)}, 1).t()) - t;            // N x out
  const int P = kOut * (kIn + 1);
  torch::Tensor J = torch::zeros({kN * kOut, P}, torch::kDouble);
  for (int n = 0; n < kN; ++n)
    for (int k = 0; k < kOut; ++k) J[n * kOut + k].narrow(0, k * (kIn + 1), kIn + 1).copy_(at[n]);
  const torch::Tensor grad = J.t().mv(r.flatten()) / kN;
  const torch::Tensor gn_step = torch::linalg_solve(J.t().mm(J) / kN, grad);
  const torch::Tensor own = torch::cat({W.grad(), b.grad().unsqueeze(1)}, 1).flatten();
  ASSERT_LT((own - grad).abs().max().item<double>(), 1e-12);  // J and the gradient agree
  kfac.precondition(0, nullptr);
  EXPECT_LT((kfac.factor_g(0) - torch::eye(kOut, torch::kDouble)).abs().max().item<double>(), 1e-12);
  const torch::Tensor step = torch::cat({W.grad(), b.grad().unsqueeze(1)}, 1).flatten();
  EXPECT_LT((step - gn_step).abs().max().item<double>(), 1e-8 * gn_step.abs().max().item<double>())
      << "K-FAC " << step << "\nGauss-Newton " << gn_step;
  // One Gauss-Newton step solves the linear least-squares problem: the new residual is
  // orthogonal to the inputs (the normal equations).
  const torch::Tensor Wn = W - step.view({kOut, kIn + 1}).narrow(1, 0, kIn);
  const torch::Tensor bn = b - step.view({kOut, kIn + 1}).select(1, kIn);
  const torch::Tensor rn = x.mm(Wn.t()) + bn - t;
  EXPECT_LT(at.t().mm(rn).abs().max().item<double>(), 1e-9);
}

// KFC on a tiny convolution (2 -> 3 channels, 3x3 kernel, stride 2, padding 1, 5x5 input, so
// T = 3 x 3 output positions): A = 1/N sum_{n,t} a~ a~' and G = 1/(N T) sum_{n,t} g g', a~ the
// zero-padded patch in (channel, row, column) order with a 1 appended, g = d loss_n / d s_{n,t}.
TEST(Kfac, ConvFactorsEqualTheHandComputedPatches) {
  torch::manual_seed(4);
  constexpr int kN = 2, kC = 2, kO = 3, kH = 5, kK = 3, kS = 2, kP = 1, kT = 3;
  OneConv model(nn::Conv2dOptions(kC, kO, kK).stride(kS).padding(kP));
  model.to(torch::kDouble);
  const torch::Tensor x = torch::randn({kN, kC, kH, kH}, torch::kDouble);
  const torch::Tensor c = torch::randn({kN, kO, kT, kT}, torch::kDouble);
  Kfac kfac(model, "one-conv", exact_config(1e-3));
  kfac.begin_update(0, kN);
  const torch::Tensor y = model.forward(x);
  ASSERT_EQ(y.sizes(), c.sizes());
  ((y * c).sum() / kN).backward();  // d loss_n / d s_{n,t} = c[n, :, t]
  kfac.precondition(0, nullptr);
  const int d = kC * kK * kK + 1;
  torch::Tensor A = torch::zeros({d, d}, torch::kDouble), G = torch::zeros({kO, kO}, torch::kDouble);
  auto xa = x.accessor<double, 4>();
  for (int n = 0; n < kN; ++n)
    for (int i = 0; i < kT; ++i)
      for (int j = 0; j < kT; ++j) {
        torch::Tensor a = torch::zeros({d}, torch::kDouble);
        auto aa = a.accessor<double, 1>();
        for (int ch = 0; ch < kC; ++ch)
          for (int di = 0; di < kK; ++di)
            for (int dj = 0; dj < kK; ++dj) {
              const int r = i * kS - kP + di, q = j * kS - kP + dj;
              if (r >= 0 && r < kH && q >= 0 && q < kH) aa[(ch * kK + di) * kK + dj] = xa[n][ch][r][q];
            }
        aa[d - 1] = 1.0;
        A += torch::outer(a, a) / kN;
        const torch::Tensor g = c.index({n, torch::indexing::Slice(), i, j});
        G += torch::outer(g, g) / (kN * kT * kT);
      }
  ASSERT_EQ(kfac.factor_a(0).sizes(), A.sizes());
  ASSERT_EQ(kfac.factor_g(0).sizes(), G.sizes());
  EXPECT_LT((kfac.factor_a(0) - A).abs().max().item<double>(), 1e-12);
  EXPECT_LT((kfac.factor_g(0) - G).abs().max().item<double>(), 1e-12);
}

// Martens & Grosse's EMA: the k-th statistics enter with weight 1 - min(1 - 1/k, decay).
TEST(Kfac, FactorEmaStartsWithTheFirstBatchThenDecays) {
  torch::manual_seed(5);
  OneLinear model(3, 2);
  model.to(torch::kDouble);
  KfacConfig cfg = exact_config(1e-3);
  cfg.decay = 0.7;
  Kfac kfac(model, "one-linear", cfg);
  torch::Tensor expected;
  for (int step = 0; step < 4; ++step) {
    const torch::Tensor x = torch::randn({5, 3}, torch::kDouble);
    const torch::Tensor at = torch::cat({x, torch::ones({5, 1}, torch::kDouble)}, 1);
    const torch::Tensor a = at.t().mm(at) / 5;
    const double eps = std::min(1.0 - 1.0 / (step + 1), 0.7);
    expected = step == 0 ? a : eps * expected + (1 - eps) * a;
    for (auto& p : model.parameters()) p.mutable_grad() = torch::Tensor();
    kfac.begin_update(step, 5);
    model.forward(x).sum().backward();
    kfac.precondition(step, nullptr);
    EXPECT_LT((kfac.factor_a(0) - expected).abs().max().item<double>(), 1e-12) << "update " << step;
  }
}

TEST(Kfac, RefusesAModelWithAnUnsupportedLayerNamingIt) {
  WithNorm model;
  try {
    Kfac kfac(model, "with-norm", KfacConfig{});
    FAIL() << "no error";
  } catch (const batchlab::optim::ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "train.precondition = kfac: model 'with-norm' has layer 'norm' (LayerNorm), which K-FAC does not "
              "support (Linear and Conv2d only)");
  }
}

}  // namespace
