// Invalid hyperparameters fail before any work with a ConfigError that names the field and
// the value; settings a rule would silently ignore are errors too.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "optim/backend_eigen.h"
#include "optim/noise_scale.h"
#include "optim/optimizer.h"
#include "optim/precond.h"
#include "optim/schedule.h"
#include "optim/sync_policy.h"

using namespace batchlab::optim;

namespace {

// The ConfigError message f throws ("" and a test failure if it throws nothing).
std::string config_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError";
  return "";
}

#define EXPECT_MENTIONS(msg, text) \
  EXPECT_NE((msg).find(text), std::string::npos) << "message: " << (msg)

OptimizerConfig named(const std::string& n) {
  OptimizerConfig c;
  c.name = n;
  return c;
}

TEST(ConfigErrors, NegativeLrInScheduleAndInStep) {
  EXPECT_MENTIONS(config_error([] { LrSchedule(-0.1, ScheduleConfig{}); }), "lr = -0.1");
  Optimizer<EigenD> opt(named("sgd"), {GroupOptions{"w"}});
  Eigen::VectorXd w = Eigen::VectorXd::Ones(2), g = Eigen::VectorXd::Ones(2);
  EXPECT_MENTIONS(config_error([&] { opt.step({w}, {g}, -0.5); }), "lr = -0.5");
  EXPECT_EQ(w[0], 1.0);  // nothing was touched
  EXPECT_MENTIONS(config_error([&] { opt.step({w}, {g}, std::nan("")); }), "lr = nan");
}

TEST(ConfigErrors, BetasMomentumAndFriendsOutsideTheirRange) {
  auto with = [](auto set) {
    OptimizerConfig c = named("adam");
    set(c);
    return config_error([c] { validate_config(c); });
  };
  EXPECT_MENTIONS(with([](auto& c) { c.beta1 = 1.0; }), "optimizer.beta1 = 1");
  EXPECT_MENTIONS(with([](auto& c) { c.beta2 = -0.1; }), "optimizer.beta2 = -0.1");
  EXPECT_MENTIONS(with([](auto& c) { c.momentum = 1.0; }), "optimizer.momentum = 1");
  EXPECT_MENTIONS(with([](auto& c) { c.eps = -1e-8; }), "optimizer.eps");
  EXPECT_MENTIONS(with([](auto& c) { c.weight_decay = -0.01; }), "optimizer.weight_decay");
  EXPECT_MENTIONS(with([](auto& c) { c.max_grad_norm = -1; }), "optimizer.max_grad_norm");
  EXPECT_MENTIONS(with([](auto& c) { c.trust_coefficient = 0; }), "optimizer.trust_coefficient");
  EXPECT_MENTIONS(with([](auto& c) { c.lamb_phi_upper = 0; }), "optimizer.lamb_phi_upper");
  // The Optimizer validates on construction.
  OptimizerConfig c = named("adam");
  c.beta1 = 1.5;
  EXPECT_THROW(Optimizer<EigenD>(c, {GroupOptions{"w"}}), ConfigError);
}

TEST(ConfigErrors, UnknownRuleOrVariantListsTheKnownOnes) {
  const std::string msg = config_error([] { validate_config(named("lars:nvidia")); });
  EXPECT_MENTIONS(msg, "optimizer.name = 'lars:nvidia'");
  EXPECT_MENTIONS(msg, "lars:apex");
  EXPECT_MENTIONS(config_error([] { validate_config(named("lamb:v3")); }), "'lamb:v3'");
  EXPECT_MENTIONS(config_error([] { validate_config(named("")); }), "optimizer.name = ''");
}

TEST(ConfigErrors, SettingsTheRuleWouldIgnore) {
  OptimizerConfig c = named("lars:paper");
  c.trust_eps = 1e-9;
  EXPECT_MENTIONS(config_error([c] { validate_config(c); }), "optimizer.trust_eps");
  c = named("lars:tf");
  c.trust_clip = true;
  EXPECT_MENTIONS(config_error([c] { validate_config(c); }), "optimizer.trust_clip");
  c = named("lars:paper");
  c.dampening = 0.1;
  EXPECT_MENTIONS(config_error([c] { validate_config(c); }), "optimizer.dampening");
  c = named("nesterov");
  c.momentum = 0.9;
  c.dampening = 0.1;
  EXPECT_MENTIONS(config_error([c] { validate_config(c); }), "optimizer.dampening");
  c = named("momentum");
  c.momentum_correction = true;
  EXPECT_MENTIONS(config_error([c] { validate_config(c); }), "optimizer.momentum_correction");
  c.lr_in_momentum = true;
  EXPECT_NO_THROW(validate_config(c));
  c.dampening = 0.5;
  EXPECT_MENTIONS(config_error([c] { validate_config(c); }), "optimizer.dampening");
  // ... and the variants that do have the setting accept it.
  c = named("lars:apex");
  c.trust_clip = true;
  c.trust_eps = 1e-9;
  c.dampening = 0.1;
  EXPECT_NO_THROW(validate_config(c));
}

TEST(ConfigErrors, GroupOptions) {
  GroupOptions g{"layer1"};
  g.lr_mult = -1;
  EXPECT_MENTIONS(config_error([g] { validate_groups({g}); }), "group 'layer1': lr_mult = -1");
  g.lr_mult = 1;
  g.weight_decay_mult = -2;
  EXPECT_MENTIONS(config_error([g] { validate_groups({g}); }), "weight_decay_mult = -2");
  EXPECT_THROW(validate_groups({}), ConfigError);
}

TEST(ConfigErrors, SyncPeriodZero) {
  EXPECT_MENTIONS(config_error([] { SyncPolicy::parse("local:0"); }), "H = 0");
  EXPECT_MENTIONS(config_error([] { SyncPolicy::parse("hier:4:0"); }), "H2 = 0");
  EXPECT_MENTIONS(config_error([] { SyncPolicy::parse("post-local:0@10"); }), "H = 0");
}

TEST(ConfigErrors, ScheduleSettings) {
  ScheduleConfig c;
  c.decay = DecayKind::kCosine;
  c.total_steps = 10;
  c.warmup = WarmupKind::kLinearFromZero;
  c.warmup_steps = 20;
  EXPECT_MENTIONS(config_error([c] { LrSchedule(0.1, c); }), "schedule.warmup_steps = 20");
  c.warmup_steps = 0;
  EXPECT_MENTIONS(config_error([c] { LrSchedule(0.1, c); }), "schedule.warmup_steps = 0");
  c.warmup = WarmupKind::kNone;
  c.total_steps = 0;
  EXPECT_MENTIONS(config_error([c] { LrSchedule(0.1, c); }), "schedule.total_steps = 0");
  c.total_steps = 10;
  c.lr_min = 0.5;
  EXPECT_MENTIONS(config_error([c] { LrSchedule(0.1, c); }), "schedule.lr_min = 0.5");
  ScheduleConfig s;
  s.decay = DecayKind::kStep;
  s.factor = 0;
  EXPECT_MENTIONS(config_error([s] { LrSchedule(0.1, s); }), "schedule.factor = 0");
  s.factor = 0.1;
  s.milestones = {-3};
  EXPECT_MENTIONS(config_error([s] { LrSchedule(0.1, s); }), "schedule.milestones");
}

TEST(ConfigErrors, NoiseScaleDecay) {
  EXPECT_MENTIONS(config_error([] { NoiseScaleEstimator(1.0); }), "noise_scale.ema_decay");
}

TEST(Precond, CurvatureIsRequiredPositiveAndShaped) {
  OptimizerConfig c = named("precond");
  Optimizer<EigenD> opt(c, {GroupOptions{"w"}});
  Eigen::VectorXd w = Eigen::VectorXd::Ones(3), g = Eigen::VectorXd::Ones(3);
  EXPECT_THROW(opt.step({w}, {g}, 0.1), std::logic_error);
  Eigen::VectorXd d(3);
  d << 1.0, 0.0, 2.0;
  EXPECT_THROW(precond_rule(opt.rule()).set_curvature(0, d), std::invalid_argument);
  Eigen::VectorXd d2(2);
  d2 << 1.0, 4.0;
  precond_rule(opt.rule()).set_curvature(0, d2);
  EXPECT_THROW(opt.step({w}, {g}, 0.1), std::invalid_argument);
  Optimizer<EigenD> plain(named("sgd"), {GroupOptions{"w"}});
  EXPECT_THROW(precond_rule(plain.rule()), std::invalid_argument);
}

TEST(Precond, PowerZeroIsSgdAndPowerOneIsNewtonOnAQuadratic) {
  // L = 1/2 sum h_i w_i^2, D = h: with p = 1 and lr = 1 one step lands on the minimum.
  Eigen::VectorXd h(3), w(3);
  h << 0.5, 2.0, 8.0;
  w << 1.0, -1.0, 2.0;
  OptimizerConfig c = named("precond");
  c.precond_power = 1.0;
  Optimizer<EigenD> newton(c, {GroupOptions{"w"}});
  precond_rule(newton.rule()).set_curvature(0, h);
  Eigen::VectorXd g = h.cwiseProduct(w);
  newton.step({w}, {g}, 1.0);
  EXPECT_NEAR(w.norm(), 0.0, 1e-15);
  c.precond_power = 0.0;
  Optimizer<EigenD> sgd_like(c, {GroupOptions{"w"}});
  precond_rule(sgd_like.rule()).set_curvature(0, h);
  w << 1.0, -1.0, 2.0;
  g = h.cwiseProduct(w);
  sgd_like.step({w}, {g}, 0.1);
  EXPECT_NEAR(w[2], 2.0 - 0.1 * 16.0, 1e-15);
}

}  // namespace
