// Shampoo (optim/shampoo.h): the fixed-gradient preconditioner against its closed form, whole
// trajectories against an independent numpy implementation (tests/reference/shampoo_reference.py,
// output embedded in shampoo_reference_data.h), an exact restart from the named state, and the
// settings it rejects.
#include <gtest/gtest.h>

#include <Eigen/SVD>
#include <cmath>
#include <string>
#include <vector>

#include "optim/backend_eigen.h"
#include "optim/optimizer.h"
#include "optim/shampoo.h"
#include "shampoo_reference_data.h"

using namespace batchlab::optim;

namespace {

using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

GroupOptions group(const std::string& name, std::vector<std::int64_t> shape) {
  GroupOptions g{name};
  g.shape = std::move(shape);
  return g;
}

// One update from w = 0 with lr 1, b2 = 0 (the statistics are G G' and G' G), no graft, no
// momentum and a negligible eps: -w is the preconditioned gradient (G G')^(-1/4) G (G' G)^(-1/4).
// For G = U S V' (thin SVD) that is U V': checked against Eigen's SVD, an independent route.
void expect_polar_factor(std::vector<std::int64_t> shape, std::int64_t m, std::int64_t n) {
  OptimizerConfig c;
  c.name = "shampoo";
  c.beta2 = 0.0;
  c.precond_eps = 1e-14;
  c.precond_every = 1;
  c.shampoo_graft = "none";
  Optimizer<EigenD> opt(c, {group("W", shape)});
  const RowMat G = RowMat::Random(m, n);
  Eigen::VectorXd w = Eigen::VectorXd::Zero(m * n);
  const Eigen::VectorXd g = Eigen::Map<const Eigen::VectorXd>(G.data(), m * n);
  opt.step({w}, {g}, 1.0);
  const RowMat step = -Eigen::Map<const RowMat>(w.data(), m, n);
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(Eigen::MatrixXd(G), Eigen::ComputeThinU | Eigen::ComputeThinV);
  const Eigen::MatrixXd polar = svd.matrixU() * svd.matrixV().transpose();
  EXPECT_LT((step - polar).cwiseAbs().maxCoeff(), 1e-6) << "step\n" << step << "\npolar\n" << polar;
  // Not the gradient itself (a rule that ignored its statistics would fail here).
  EXPECT_GT((step - G).cwiseAbs().maxCoeff(), 1e-2);
}

TEST(Shampoo, FixedGradientPreconditionerIsTheOrthogonalFactor) {
  expect_polar_factor({3, 5}, 3, 5);     // wide
  expect_polar_factor({6, 2}, 6, 2);     // tall
  expect_polar_factor({2, 3, 2}, 2, 6);  // a conv-like kernel, read as 2 x 6
}

// ---- the numpy reference problem (see the script's docstring) ----

const std::vector<int> kSizes = {12, 3, 10};
const std::vector<double> kLrs = {0.1, 0.12, 0.05, 0.2, 0.15, 0.1};

std::vector<GroupOptions> reference_groups() {
  GroupOptions bias{"bias"};
  bias.exclude_from_weight_decay = true;
  GroupOptions wide = group("wide", {2, 5});
  wide.lr_mult = 0.5;
  return {group("W", {3, 2, 2}), bias, wide};
}

OptimizerConfig config_of(const shampoo_reference::Case& k) {
  OptimizerConfig c;
  c.name = "shampoo";
  c.shampoo_graft = k.graft;
  c.momentum = k.momentum;
  c.weight_decay = k.weight_decay;
  c.beta2 = k.beta2;
  c.eps = k.eps;
  c.precond_eps = k.precond_eps;
  c.precond_every = k.precond_every;
  c.precond_warmup = k.precond_warmup;
  c.max_grad_norm = k.max_grad_norm;
  c.shampoo_max_dim = 4;
  return c;
}

template <class B>
struct Run {
  std::vector<typename B::Buffer> w;
  std::vector<double> ratio;
};

// Updates `from` .. `to`-1 of the reference problem on opt, from parameters w.
template <class B>
void advance(Optimizer<B>& opt, std::vector<typename B::Buffer>& w, int from, int to,
             std::vector<double>* ratio) {
  using S = typename B::Scalar;
  for (int t = from; t < to; ++t) {
    std::vector<typename B::Buffer> g(w.size());
    for (std::size_t i = 0, j = 0; i < w.size(); ++i) {
      g[i].resize(w[i].size());
      for (Eigen::Index k = 0; k < w[i].size(); ++k, ++j) {
        const double h = 0.5 + 0.25 * static_cast<double>(j);
        g[i][k] = static_cast<S>(h * static_cast<double>(w[i][k]) +
                                 0.3 * std::sin(0.9 * static_cast<double>(j) + 1.3 * t + 0.1));
      }
    }
    std::vector<typename B::View> pv(w.begin(), w.end());
    std::vector<typename B::CView> gv(g.begin(), g.end());
    opt.step(pv, gv, kLrs[static_cast<std::size_t>(t)]);
    if (ratio) ratio->insert(ratio->end(), opt.trust_ratios().begin(), opt.trust_ratios().end());
  }
}

template <class B>
std::vector<typename B::Buffer> initial_params() {
  std::vector<typename B::Buffer> w;
  int j = 0;
  for (int n : kSizes) {
    typename B::Buffer x(n);
    for (int k = 0; k < n; ++k, ++j) x[k] = static_cast<typename B::Scalar>(0.5 * std::cos(1.7 * j + 0.3));
    w.push_back(x);
  }
  return w;
}

template <class B>
void expect_matches_reference(double tol) {
  for (const auto& k : shampoo_reference::cases()) {
    SCOPED_TRACE(k.label);
    Optimizer<B> opt(config_of(k), reference_groups());
    auto w = initial_params<B>();
    std::vector<double> ratio;
    advance<B>(opt, w, 0, static_cast<int>(kLrs.size()), &ratio);
    std::size_t j = 0;
    for (const auto& x : w)
      for (Eigen::Index i = 0; i < x.size(); ++i, ++j)
        EXPECT_NEAR(static_cast<double>(x[i]), k.final_params[j], tol * (1.0 + std::abs(k.final_params[j])))
            << "entry " << j;
    ASSERT_EQ(ratio.size(), k.ratio.size());
    for (std::size_t i = 0; i < ratio.size(); ++i)
      EXPECT_NEAR(ratio[i], k.ratio[i], tol * (1.0 + k.ratio[i])) << "ratio " << i;
  }
}

TEST(Shampoo, MatchesNumpyReferenceInDouble) { expect_matches_reference<EigenD>(1e-9); }
TEST(Shampoo, MatchesNumpyReferenceInFloat) { expect_matches_reference<EigenF>(2e-4); }

TEST(Shampoo, GroupLayoutsMatrixConvAndDiagonalFallbacks) {
  OptimizerConfig c;
  c.name = "shampoo";
  c.shampoo_max_dim = 4;
  Shampoo<EigenD> s(c);
  s.set_groups(reference_groups());
  EXPECT_TRUE(s.layout(0).matrix);
  EXPECT_EQ(s.layout(0).m, 3);
  EXPECT_EQ(s.layout(0).n, 4);
  EXPECT_FALSE(s.layout(1).matrix);  // a vector
  EXPECT_FALSE(s.layout(2).matrix);  // 2 x 5: the side 5 > shampoo_max_dim
}

// Restarting from the named state after 3 updates (what a checkpoint stores) continues exactly
// as the uninterrupted run: L, R and the inverse roots computed at update 3 carry over.
TEST(Shampoo, RestartFromStateIsExact) {
  const auto& k = shampoo_reference::cases()[0];
  OptimizerConfig c = config_of(k);
  c.precond_every = 2;  // update 4 uses the roots of update 3
  Optimizer<EigenD> straight(c, reference_groups());
  auto ws = initial_params<EigenD>();
  advance<EigenD>(straight, ws, 0, 6, nullptr);

  Optimizer<EigenD> first(c, reference_groups());
  auto w = initial_params<EigenD>();
  advance<EigenD>(first, w, 0, 3, nullptr);
  Optimizer<EigenD> second(c, reference_groups());
  second.init_state(std::vector<EigenD::CView>(w.begin(), w.end()));
  for (std::size_t gi = 0; gi < w.size(); ++gi) {
    auto from = first.rule().state(gi), to = second.rule().state(gi);
    ASSERT_EQ(from.size(), to.size());
    ASSERT_FALSE(from.empty());
    for (std::size_t b = 0; b < from.size(); ++b) {
      EXPECT_EQ(from[b].first, to[b].first);
      *to[b].second = *from[b].second;
    }
  }
  second.restore_counters(first.steps(), first.prev_lr());
  advance<EigenD>(second, w, 3, 6, nullptr);
  for (std::size_t gi = 0; gi < w.size(); ++gi) EXPECT_EQ(w[gi], ws[gi]) << "group " << gi;
}

TEST(Shampoo, BadSettingsNameTheFieldAndValue) {
  auto message = [](auto set) {
    OptimizerConfig c;
    c.name = "shampoo";
    set(c);
    try {
      validate_config(c);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message([](auto& c) { c.precond_eps = 0.0; }), "optimizer.precond_eps = 0: must be > 0");
  EXPECT_EQ(message([](auto& c) { c.precond_eps = -1e-3; }), "optimizer.precond_eps = -0.001: must be > 0");
  EXPECT_EQ(message([](auto& c) { c.precond_every = 0; }), "optimizer.precond_every = 0: must be >= 1");
  EXPECT_EQ(message([](auto& c) { c.shampoo_max_dim = 0; }), "optimizer.shampoo_max_dim = 0: must be >= 1");
  EXPECT_EQ(message([](auto& c) { c.precond_warmup = -1; }), "optimizer.precond_warmup = -1: must be >= 0");
  EXPECT_EQ(message([](auto& c) { c.shampoo_graft = "lamb"; }),
            "optimizer.shampoo_graft = 'lamb': must be adam, sgd or none");
  EXPECT_EQ(message([](auto& c) { c.dampening = 0.1; }), "optimizer.dampening = 0.100000: not supported by shampoo");
  GroupOptions bad = group("W", {3, 0});
  EXPECT_THROW(validate_groups({bad}), ConfigError);
}

}  // namespace
