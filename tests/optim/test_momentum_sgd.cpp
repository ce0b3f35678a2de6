// Heavy-ball momentum and SGD against hand algebra.
#include <gtest/gtest.h>

#include "optim/backend_eigen.h"
#include "optim/optimizer.h"

using namespace batchlab::optim;

TEST(Sgd, StepIsLrTimesMeanGradientPlusL2) {
  OptimizerConfig c;
  c.name = "sgd";
  c.weight_decay = 0.1;
  Optimizer<EigenD> opt(c, {GroupOptions{"w"}, GroupOptions{"b", 1.0, 1.0, true, true}});
  Eigen::VectorXd w(2), b(1), gw(2), gb(1);
  w << 1.0, -2.0;
  b << 3.0;
  gw << 0.5, 0.25;
  gb << 1.0;
  opt.step({w, b}, {gw, gb}, 0.2);
  // w - 0.2 (g + 0.1 w); bias excluded from decay.
  EXPECT_DOUBLE_EQ(w[0], 1.0 - 0.2 * (0.5 + 0.1));
  EXPECT_DOUBLE_EQ(w[1], -2.0 - 0.2 * (0.25 - 0.2));
  EXPECT_DOUBLE_EQ(b[0], 3.0 - 0.2 * 1.0);
}

TEST(Momentum, GoyalFormWithCorrectionEqualsTorchFormWhenLrChanges) {
  // Goyal et al. 2017: v <- m (lr_t / lr_{t-1}) v + lr_t g; w <- w - v is the same iteration as
  // v <- m v + g; w <- w - lr v, even when the lr changes. Without the correction it is not.
  const double lrs[] = {0.1, 0.1, 0.4, 0.4, 0.05};
  const double grads[] = {1.0, -0.5, 2.0, 0.3, -1.0};
  auto run = [&](bool lr_in, bool corr) {
    OptimizerConfig c;
    c.name = "momentum";
    c.momentum = 0.9;
    c.lr_in_momentum = lr_in;
    c.momentum_correction = corr;
    Optimizer<EigenD> opt(c, {GroupOptions{"w"}});
    Eigen::VectorXd w = Eigen::VectorXd::Constant(1, 1.0), g(1);
    for (int t = 0; t < 5; ++t) {
      g[0] = grads[t];
      opt.step({w}, {g}, lrs[t]);
    }
    return w[0];
  };
  EXPECT_NEAR(run(true, true), run(false, false), 1e-14);
  EXPECT_GT(std::abs(run(true, false) - run(false, false)), 1e-3);
}
