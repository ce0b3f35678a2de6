// Every update rule against an independent numpy implementation (tests/reference/optim_rules.py,
// output embedded in rules_reference_data.h): six updates with a changing lr, four parameter
// groups (one excluded from decay and adaptation, one with wd = 0 but adapted, one starting at
// w = 0), gradients that depend on w. Compares the parameters after the last update and the
// trust ratio step() returned at every update.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "optim/backend_eigen.h"
#include "optim/optimizer.h"
#include "optim/precond.h"
#include "rules_reference_data.h"

using namespace batchlab::optim;
using rules_reference::Case;

namespace {

const std::vector<int> kSizes = {4, 3, 3, 2};
const std::vector<double> kInit = {0.5, -1.0, 1.5, 0.2, 0.1, -0.2, 0.3, -0.7, 0.4, 0.9, 0.0, 0.0};
const std::vector<double> kLrs = {0.1, 0.12, 0.05, 0.2, 0.15, 0.1};

double h(int j) { return 0.5 + 0.25 * j; }

std::vector<GroupOptions> groups() {
  GroupOptions w1{"w1"};
  GroupOptions bias{"bias"};
  bias.exclude_from_weight_decay = true;
  bias.exclude_from_adaptation = true;
  GroupOptions w2{"w2"};
  w2.lr_mult = 0.5;
  w2.weight_decay_mult = 0.0;
  GroupOptions zero{"zero"};
  return {w1, bias, w2, zero};
}

OptimizerConfig config_of(const Case& c, const std::string& rule) {
  OptimizerConfig o;
  o.name = rule;
  o.momentum = c.momentum;
  o.dampening = c.dampening;
  o.beta1 = c.beta1;
  o.beta2 = c.beta2;
  o.eps = c.eps;
  o.weight_decay = c.weight_decay;
  o.trust_coefficient = c.trust_coefficient;
  o.trust_eps = c.trust_eps;
  o.trust_clip = c.trust_clip;
  o.lamb_phi_lower = c.phi_lower;
  o.lamb_phi_upper = c.phi_upper;
  o.max_grad_norm = c.max_grad_norm;
  o.precond_power = c.precond_power;
  o.lr_in_momentum = c.lr_in_momentum;
  o.momentum_correction = c.momentum_correction;
  return o;
}

struct Trajectory {
  std::vector<double> params;  // flattened
  std::vector<double> trust;   // [update][group]
};

// Runs the reference problem with `rule` and case c's hyperparameters on backend B.
template <class B>
Trajectory run_case(const Case& c, const std::string& rule) {
  using Vec = typename B::Buffer;
  using S = typename B::Scalar;
  Optimizer<B> opt(config_of(c, rule), groups());
  std::vector<Vec> w(kSizes.size()), g(kSizes.size());
  for (std::size_t i = 0, j = 0; i < kSizes.size(); ++i) {
    w[i].resize(kSizes[i]);
    g[i].resize(kSizes[i]);
    Vec d(kSizes[i]);
    for (int k = 0; k < kSizes[i]; ++k, ++j) {
      w[i][k] = static_cast<S>(kInit[j]);
      d[k] = static_cast<S>(h(static_cast<int>(j)));
    }
    if (rule == "precond") precond_rule(opt.rule()).set_curvature(i, d);
  }
  Trajectory r;
  for (int t = 0; t < static_cast<int>(kLrs.size()); ++t) {
    for (std::size_t i = 0, j = 0; i < kSizes.size(); ++i)
      for (int k = 0; k < kSizes[i]; ++k, ++j) {
        const double x = static_cast<double>(w[i][k]);
        const double jj = static_cast<double>(j);
        g[i][k] = static_cast<S>(h(static_cast<int>(j)) * x + 0.3 * std::sin(0.9 * jj + 1.3 * t + 0.1));
      }
    std::vector<typename B::View> views(w.begin(), w.end());
    std::vector<typename B::CView> grads(g.begin(), g.end());
    opt.step(views, grads, kLrs[t]);
    for (double tr : opt.trust_ratios()) r.trust.push_back(tr);
  }
  for (const auto& x : w)
    for (Eigen::Index k = 0; k < x.size(); ++k) r.params.push_back(static_cast<double>(x[k]));
  return r;
}

const Case& find_case(const std::string& label) {
  for (const auto& c : rules_reference::cases())
    if (label == c.label) return c;
  throw std::runtime_error("no reference case " + label);
}

// Largest |a - b| / (1 + |b|) over both vectors.
double max_rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i)
    d = std::max(d, std::abs(a[i] - b[i]) / (1.0 + std::abs(b[i])));
  return d;
}

class RuleMatchesNumpy : public ::testing::TestWithParam<std::string> {};

TEST_P(RuleMatchesNumpy, ParamsAndTrustRatiosInDouble) {
  const Case& c = find_case(GetParam());
  const Trajectory r = run_case<EigenD>(c, c.rule);
  ASSERT_EQ(r.params.size(), c.final_params.size());
  ASSERT_EQ(r.trust.size(), c.trust.size());
  for (std::size_t i = 0; i < r.params.size(); ++i)
    EXPECT_NEAR(r.params[i], c.final_params[i], 1e-12 * (1.0 + std::abs(c.final_params[i])))
        << "param " << i;
  for (std::size_t i = 0; i < r.trust.size(); ++i)
    EXPECT_NEAR(r.trust[i], c.trust[i], 1e-12 * (1.0 + std::abs(c.trust[i])))
        << "update " << i / kSizes.size() << " group " << i % kSizes.size();
}

// The float backend runs the same code; its rounding bounds the agreement.
TEST_P(RuleMatchesNumpy, ParamsInFloatWithinSinglePrecision) {
  const Case& c = find_case(GetParam());
  const Trajectory r = run_case<EigenF>(c, c.rule);
  EXPECT_LT(max_rel_diff(r.params, c.final_params), 2e-5);
}

std::vector<std::string> all_labels() {
  std::vector<std::string> v;
  for (const auto& c : rules_reference::cases()) v.push_back(c.label);
  return v;
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(AllRules, RuleMatchesNumpy, ::testing::ValuesIn(all_labels()), test_name);

// Variants share hyperparameters in the reference data; running variant A must reproduce A's
// numbers and be far from B's, so registering one variant's arithmetic under the other's name
// fails here.
class VariantPair : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(VariantPair, EachVariantMatchesItsOwnReferenceAndNotTheOther) {
  const auto& [a, b] = GetParam();
  const Case& ca = find_case(a);
  const Case& cb = find_case(b);
  const Trajectory ra = run_case<EigenD>(ca, a);
  const Trajectory rb = run_case<EigenD>(ca, b);  // same hyperparameters, other variant
  EXPECT_LT(max_rel_diff(ra.params, ca.final_params), 1e-12);
  EXPECT_LT(max_rel_diff(rb.params, cb.final_params), 1e-12);
  // The two references must differ by far more than the tolerance for the test to mean much.
  EXPECT_GT(max_rel_diff(ca.final_params, cb.final_params), 1e-4);
  EXPECT_GT(max_rel_diff(ra.params, cb.final_params), 1e-4) << a << " behaves like " << b;
  EXPECT_GT(max_rel_diff(rb.params, ca.final_params), 1e-4) << b << " behaves like " << a;
}

INSTANTIATE_TEST_SUITE_P(
    LarsAndLamb, VariantPair,
    ::testing::Values(std::pair<std::string, std::string>{"lars:paper", "lars:tf"},
                      std::pair<std::string, std::string>{"lars:paper", "lars:apex"},
                      std::pair<std::string, std::string>{"lars:tf", "lars:apex"},
                      std::pair<std::string, std::string>{"lamb:paper", "lamb:apex"},
                      std::pair<std::string, std::string>{"lamb:paper", "lamb:nobias"},
                      std::pair<std::string, std::string>{"lamb:apex", "lamb:nobias"}),
    [](const auto& info) {
      std::string s = info.param.first + "_vs_" + info.param.second;
      for (char& ch : s)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return s;
    });

TEST(RuleNames, LarsAndLambAloneMeanThePaperVariants) {
  OptimizerConfig c;
  c.name = "lars";
  EXPECT_EQ(make_rule<EigenD>(c)->name(), "lars:paper");
  c.name = "lamb";
  EXPECT_EQ(make_rule<EigenD>(c)->name(), "lamb:paper");
}

}  // namespace
