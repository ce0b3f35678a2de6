// LR schedules, warm-up and batch-size scaling rules at every step of a small horizon,
// against closed forms written out here (and a few values worked by hand).
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "optim/config.h"
#include "optim/scaling.h"
#include "optim/schedule.h"

using namespace batchlab::optim;

namespace {

constexpr double kPi = std::numbers::pi;
constexpr std::int64_t kT = 10;  // horizon
constexpr double kBase = 0.8, kMin = 0.05;

ScheduleConfig decay(DecayKind k) {
  ScheduleConfig c;
  c.decay = k;
  c.total_steps = kT;
  c.lr_min = kMin;
  c.milestones = {6, 3};  // unsorted on purpose
  c.factor = 0.5;
  c.power = 2.0;
  return c;
}

// Closed-form decay multiplier x base for step t (t may run past the horizon).
double closed_decay(DecayKind k, std::int64_t t) {
  const double f = std::min<double>(static_cast<double>(t), kT) / kT;
  switch (k) {
    case DecayKind::kConstant: return kBase;
    case DecayKind::kStep: return kBase * (t >= 3 ? 0.5 : 1.0) * (t >= 6 ? 0.5 : 1.0);
    case DecayKind::kCosine: return kMin + (kBase - kMin) * 0.5 * (1.0 + std::cos(kPi * f));
    case DecayKind::kPolynomial: return kMin + (kBase - kMin) * (1.0 - f) * (1.0 - f);
    case DecayKind::kLinear: return kMin + (kBase - kMin) * (1.0 - f);
  }
  return NAN;
}

class Decay : public ::testing::TestWithParam<DecayKind> {};

TEST_P(Decay, EveryStepMatchesClosedFormWithoutWarmup) {
  LrSchedule s(kBase, decay(GetParam()));
  for (std::int64_t t = 0; t <= kT + 3; ++t)
    EXPECT_NEAR(s.lr_at(t), closed_decay(GetParam(), t), 1e-15) << "step " << t;
}

TEST_P(Decay, LinearWarmupFromZeroRampsThenFollowsTheDecay) {
  ScheduleConfig c = decay(GetParam());
  c.warmup = WarmupKind::kLinearFromZero;
  c.warmup_steps = 4;
  LrSchedule s(kBase, c);
  for (std::int64_t t = 0; t <= kT; ++t) {
    const double ramp = t < 4 ? (t + 1) / 4.0 : 1.0;
    EXPECT_NEAR(s.lr_at(t), ramp * closed_decay(GetParam(), t), 1e-15) << "step " << t;
  }
}

TEST_P(Decay, GradualWarmupAddsAConstantFromTheUnscaledLr) {
  // Goyal et al. 2017: start at the small-batch lr 0.1, add (0.8 - 0.1)/4 per step, reach 0.8
  // at step 4; the decay multiplies on top.
  ScheduleConfig c = decay(GetParam());
  c.warmup = WarmupKind::kLinearFromUnscaled;
  c.warmup_steps = 4;
  c.warmup_start_lr = 0.1;
  LrSchedule s(kBase, c);
  for (std::int64_t t = 0; t <= kT; ++t) {
    const double warm = t < 4 ? 0.1 + 0.175 * t : kBase;
    EXPECT_NEAR(s.lr_at(t), warm * closed_decay(GetParam(), t) / kBase, 1e-15) << "step " << t;
  }
}

INSTANTIATE_TEST_SUITE_P(AllDecays, Decay,
                         ::testing::Values(DecayKind::kConstant, DecayKind::kStep,
                                           DecayKind::kCosine, DecayKind::kPolynomial,
                                           DecayKind::kLinear));

TEST(Schedule, HandWorkedCosineAndPoly) {
  ScheduleConfig c;
  c.decay = DecayKind::kCosine;
  c.total_steps = 4;
  LrSchedule cos(1.0, c);
  const double want[] = {1.0, 0.5 + 0.5 * std::sqrt(0.5), 0.5, 0.5 - 0.5 * std::sqrt(0.5), 0.0};
  for (int t = 0; t <= 4; ++t) EXPECT_NEAR(cos.lr_at(t), want[t], 1e-15);
  c.decay = DecayKind::kPolynomial;
  c.power = 2.0;
  LrSchedule poly(2.0, c);
  const double want_poly[] = {2.0, 1.125, 0.5, 0.125, 0.0};  // 2 (1 - t/4)^2
  for (int t = 0; t <= 4; ++t) EXPECT_NEAR(poly.lr_at(t), want_poly[t], 1e-15);
}

TEST(Schedule, IsAPureFunctionOfTheStep) {
  ScheduleConfig c = decay(DecayKind::kCosine);
  c.warmup = WarmupKind::kLinearFromZero;
  c.warmup_steps = 3;
  LrSchedule s(kBase, c);
  const double later = s.lr_at(7);
  for (int t = 0; t < 7; ++t) (void)s.lr_at(t);
  EXPECT_EQ(s.lr_at(7), later);
}

TEST(Schedule, StepsFromEpochs) {
  EXPECT_EQ(steps_from_epochs(5, 390), 1950);  // Goyal: 5 warm-up epochs
  EXPECT_EQ(steps_from_epochs(0.5, 3), 2);     // rounds to nearest (1.5 -> 2)
  EXPECT_EQ(steps_from_epochs(0, 100), 0);
  EXPECT_THROW(steps_from_epochs(-1, 100, "schedule.warmup_epochs"), ConfigError);
  EXPECT_THROW(steps_from_epochs(1, 0), ConfigError);
  try {
    steps_from_epochs(-2.5, 10, "schedule.warmup_epochs");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "schedule.warmup_epochs = -2.5: must be finite and >= 0");
  }
}

TEST(Schedule, ParseNames) {
  EXPECT_EQ(parse_decay("constant"), DecayKind::kConstant);
  EXPECT_EQ(parse_decay("step"), DecayKind::kStep);
  EXPECT_EQ(parse_decay("cosine"), DecayKind::kCosine);
  EXPECT_EQ(parse_decay("poly"), DecayKind::kPolynomial);
  EXPECT_EQ(parse_decay("linear"), DecayKind::kLinear);
  EXPECT_EQ(parse_warmup("none"), WarmupKind::kNone);
  EXPECT_EQ(parse_warmup("linear"), WarmupKind::kLinearFromZero);
  EXPECT_EQ(parse_warmup("gradual"), WarmupKind::kLinearFromUnscaled);
  EXPECT_THROW(parse_decay("exp"), ConfigError);
  EXPECT_THROW(parse_warmup("cosine"), ConfigError);
}

// ---- scaling rules ----

TEST(Scaling, EachRuleAtFourTimesTheReferenceBatch) {
  ScalingRule r;
  r.batch_ref = 256;
  r.kind = ScalingKind::kNone;
  EXPECT_DOUBLE_EQ(r.lr(1024, 0.1), 0.1);
  r.kind = ScalingKind::kLinear;
  EXPECT_DOUBLE_EQ(r.lr(1024, 0.1), 0.4);  // Goyal: 0.1 B / 256
  r.kind = ScalingKind::kSqrt;
  EXPECT_DOUBLE_EQ(r.lr(1024, 0.1), 0.2);
  r.kind = ScalingKind::kMalladi;
  const ScaledHyper h = r.apply(1024, 1e-3, 0.9, 0.999, 1e-8);
  EXPECT_DOUBLE_EQ(h.lr, 2e-3);
  EXPECT_NEAR(h.beta1, 0.6, 1e-15);     // 1 - 4 (1 - 0.9)
  EXPECT_NEAR(h.beta2, 0.996, 1e-15);   // 1 - 4 (1 - 0.999)
  EXPECT_DOUBLE_EQ(h.eps, 5e-9);        // 1e-8 / sqrt(4)
}

TEST(Scaling, SmallerBatchScalesDownAndMaxLrCaps) {
  ScalingRule r;
  r.kind = ScalingKind::kLinear;
  r.batch_ref = 256;
  EXPECT_DOUBLE_EQ(r.lr(64, 0.1), 0.025);
  r.max_lr = 0.3;
  EXPECT_DOUBLE_EQ(r.lr(1024, 0.1), 0.3);
  EXPECT_DOUBLE_EQ(r.lr(512, 0.1), 0.2);  // below the cap: untouched
  r.kind = ScalingKind::kSqrt;
  EXPECT_DOUBLE_EQ(r.lr(256 * 100, 0.1), 0.3);
}

TEST(Scaling, MalladiClampsBetasAtLargeBatch) {
  ScalingRule r;
  r.kind = ScalingKind::kMalladi;
  r.batch_ref = 1;
  const ScaledHyper h = r.apply(100, 1e-3, 0.9, 0.999, 1e-8);  // 1 - 100 * 0.1 < 0
  EXPECT_EQ(h.beta1, 0.0);
  EXPECT_NEAR(h.beta2, 0.9, 1e-12);
}

TEST(Scaling, ParseAndErrors) {
  EXPECT_EQ(parse_scaling("none"), ScalingKind::kNone);
  EXPECT_EQ(parse_scaling("linear"), ScalingKind::kLinear);
  EXPECT_EQ(parse_scaling("sqrt"), ScalingKind::kSqrt);
  EXPECT_EQ(parse_scaling("malladi"), ScalingKind::kMalladi);
  EXPECT_EQ(to_string(ScalingKind::kMalladi), "malladi");
  EXPECT_THROW(parse_scaling("cubic"), ConfigError);
  ScalingRule r;
  r.batch_ref = 0;
  EXPECT_THROW(r.lr(32, 0.1), ConfigError);
  r.batch_ref = 32;
  EXPECT_THROW(r.lr(0, 0.1), ConfigError);
}

}  // namespace
