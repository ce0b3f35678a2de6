// Every registered update rule gives the same parameters on torch tensors (float32) as on the
// Eigen backend (float and double), with the same data: the "written once" claim of
// docs/architecture.md#the-optim-backend.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "optim/backend_eigen.h"
#include "optim/optimizer.h"
#include "optim/precond.h"
#include "optim/registry.h"
#include "realtrain/torch_backend.h"

namespace {

using batchlab::optim::EigenD;
using batchlab::optim::EigenF;
using batchlab::optim::GroupOptions;
using batchlab::optim::Optimizer;
using batchlab::optim::OptimizerConfig;
using batchlab::realtrain::TorchBackend;

constexpr int kSteps = 6;
const std::vector<int> kGroupSizes = {37, 5};  // a "weight" and a "bias" group

// Two groups: the second (a bias) is excluded from weight decay and layer adaptation.
std::vector<GroupOptions> two_groups() {
  GroupOptions w;
  w.name = "fc.weight";
  GroupOptions b;
  b.name = "fc.bias";
  b.exclude_from_weight_decay = true;
  b.exclude_from_adaptation = true;
  return {w, b};
}

// Initial parameters and per-step gradients, drawn once in double.
struct Data {
  std::vector<std::vector<double>> w0;
  std::vector<std::vector<double>> curvature;  // the diagonal D of "precond"
  std::vector<std::vector<std::vector<double>>> grads;  // [step][group][i]
};

Data make_data(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n01(0.0, 1.0);
  Data d;
  std::uniform_real_distribution<double> curv(0.2, 2.0);
  for (int size : kGroupSizes) {
    std::vector<double> h(static_cast<std::size_t>(size));
    for (auto& x : h) x = curv(rng);
    d.curvature.push_back(h);
  }
  for (int size : kGroupSizes) {
    std::vector<double> w(static_cast<std::size_t>(size));
    for (auto& x : w) x = n01(rng);
    d.w0.push_back(w);
  }
  for (int t = 0; t < kSteps; ++t) {
    std::vector<std::vector<double>> gs;
    for (int size : kGroupSizes) {
      std::vector<double> g(static_cast<std::size_t>(size));
      for (auto& x : g) x = 0.5 * n01(rng) + 0.1;
      gs.push_back(g);
    }
    d.grads.push_back(gs);
  }
  return d;
}

double lr_at(int t) { return 0.05 * (1.0 + 0.5 * t); }  // changing lr: momentum correction

template <class E>
std::vector<std::vector<double>> run_eigen(const OptimizerConfig& cfg, const Data& d) {
  using Vec = typename E::Buffer;
  using S = typename E::Scalar;
  std::vector<Vec> w;
  for (const auto& x : d.w0) w.push_back(Eigen::Map<const Eigen::VectorXd>(x.data(), static_cast<Eigen::Index>(x.size())).cast<S>());
  Optimizer<E> opt(cfg, two_groups());
  if (cfg.name == "precond")
    for (std::size_t gi = 0; gi < d.curvature.size(); ++gi) {
      const auto& h = d.curvature[gi];
      Vec hv = Eigen::Map<const Eigen::VectorXd>(h.data(), static_cast<Eigen::Index>(h.size())).cast<S>();
      batchlab::optim::precond_rule(opt.rule()).set_curvature(gi, hv);
    }
  for (int t = 0; t < kSteps; ++t) {
    std::vector<Vec> g;
    for (const auto& x : d.grads[static_cast<std::size_t>(t)])
      g.push_back(Eigen::Map<const Eigen::VectorXd>(x.data(), static_cast<Eigen::Index>(x.size())).cast<S>());
    std::vector<typename E::View> views(w.begin(), w.end());
    std::vector<typename E::CView> cviews(g.begin(), g.end());
    opt.step(views, cviews, lr_at(t));
  }
  std::vector<std::vector<double>> out;
  for (const auto& x : w) {
    Eigen::VectorXd xd = x.template cast<double>();
    out.emplace_back(xd.data(), xd.data() + xd.size());
  }
  return out;
}

torch::Tensor to_tensor(const std::vector<double>& x) {
  return torch::tensor(x, torch::kDouble).to(torch::kFloat);
}

std::vector<std::vector<double>> run_torch(const OptimizerConfig& cfg, const Data& d) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> w;
  for (const auto& x : d.w0) w.push_back(to_tensor(x));
  Optimizer<TorchBackend> opt(cfg, two_groups());
  if (cfg.name == "precond")
    for (std::size_t gi = 0; gi < d.curvature.size(); ++gi)
      batchlab::optim::precond_rule(opt.rule()).set_curvature(gi, to_tensor(d.curvature[gi]));
  for (int t = 0; t < kSteps; ++t) {
    std::vector<torch::Tensor> g;
    for (const auto& x : d.grads[static_cast<std::size_t>(t)]) g.push_back(to_tensor(x));
    opt.step(w, g, lr_at(t));
  }
  std::vector<std::vector<double>> out;
  for (const auto& x : w) {
    torch::Tensor xd = x.to(torch::kDouble).contiguous();
    out.emplace_back(xd.data_ptr<double>(), xd.data_ptr<double>() + xd.numel());
  }
  return out;
}

void expect_close(const std::vector<std::vector<double>>& a,
                  const std::vector<std::vector<double>>& b, double rel_tol,
                  const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t gi = 0; gi < a.size(); ++gi) {
    ASSERT_EQ(a[gi].size(), b[gi].size());
    for (std::size_t i = 0; i < a[gi].size(); ++i)
      ASSERT_NEAR(a[gi][i], b[gi][i], rel_tol * (1.0 + std::abs(b[gi][i])))
          << what << " group " << gi << " element " << i;
  }
}

// Settings per rule: plain, then each optional knob that changes the arithmetic (dampening,
// lr inside momentum with correction, global-norm clipping). A knob a rule rejects
// (validate_config throws ConfigError) is skipped for that rule; the plain setting never is.
std::vector<OptimizerConfig> configs_for(const std::string& name) {
  OptimizerConfig plain;
  plain.name = name;
  plain.momentum = 0.9;
  plain.weight_decay = 0.01;
  plain.beta1 = 0.9;
  plain.beta2 = 0.99;
  plain.eps = 1e-6;
  plain.trust_coefficient = 0.02;
  std::vector<OptimizerConfig> out = {plain};
  OptimizerConfig damp = plain;
  damp.dampening = 0.1;
  OptimizerConfig goyal = plain;
  goyal.lr_in_momentum = true;
  goyal.momentum_correction = true;
  OptimizerConfig clip = plain;
  clip.max_grad_norm = 0.5;
  for (const auto& c : {damp, goyal, clip}) {
    try {
      batchlab::optim::validate_config(c);
      out.push_back(c);
    } catch (const batchlab::optim::ConfigError&) {
    }
  }
  return out;
}

TEST(TorchBackendParity, EveryRegisteredRuleMatchesEigenFloatAndDouble) {
  const auto names = batchlab::optim::rule_names();
  ASSERT_FALSE(names.empty());
  const Data d = make_data(20261122);
  for (const auto& name : names) {
    int variant = 0;
    for (const auto& cfg : configs_for(name)) {
      SCOPED_TRACE(name + " setting " + std::to_string(variant++));
      const auto wd = run_eigen<EigenD>(cfg, d);
      const auto wf = run_eigen<EigenF>(cfg, d);
      const auto wt = run_torch(cfg, d);
      // The rule moved the parameters (a rule that did nothing would pass trivially).
      double moved = 0.0;
      for (std::size_t gi = 0; gi < wd.size(); ++gi)
        for (std::size_t i = 0; i < wd[gi].size(); ++i) moved += std::abs(wd[gi][i] - d.w0[gi][i]);
      EXPECT_GT(moved, 1e-3) << name;
      expect_close(wt, wf, 2e-6, "torch vs eigen<float>");
      expect_close(wt, wd, 2e-5, "torch vs eigen<double>");
    }
  }
}

TEST(TorchBackendParity, ReductionsAreAccumulatedInDouble) {
  // 1 + 1e-8 is not representable in float; the squared norm must still be the double sum of
  // the float elements, as in the Eigen backend.
  torch::Tensor x = torch::full({1000}, 0.1f);
  const double expected = 1000.0 * static_cast<double>(0.1f) * static_cast<double>(0.1f);
  // A float accumulator would be off by ~1e-7 relative; double summation (the order may
  // differ from 1000 x (0.1f)^2) by ~1e-15.
  EXPECT_NEAR(TorchBackend::squared_norm(x), expected, 1e-12 * expected);
  EXPECT_NEAR(TorchBackend::dot(x, x), expected, 1e-12 * expected);
  EXPECT_NEAR(TorchBackend::norm(x), std::sqrt(expected), 1e-12 * std::sqrt(expected));
  // The fused CPU path (contiguous float32) and the generic torch-op path (a strided view) agree.
  const torch::Tensor strided = torch::randn({64, 33}).slice(1, 0, 33, 2);  // not dense: generic path
  const torch::Tensor packed = strided.contiguous();                          // fused path
  ASSERT_FALSE(strided.is_non_overlapping_and_dense());
  const double sq = TorchBackend::squared_norm(packed);
  EXPECT_NEAR(TorchBackend::squared_norm(strided), sq, 1e-12 * sq);
  EXPECT_NEAR(TorchBackend::dot(strided, strided), sq, 1e-12 * sq);
  EXPECT_TRUE(TorchBackend::all_finite(x));
  x[3] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(TorchBackend::all_finite(x));
}

}  // namespace
