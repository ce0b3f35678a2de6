// Shared by the torch-vs-Eigen parity tests (tests/realtrain on the CPU, tests/cuda on a GPU):
// every registered update rule, in every setting that changes its arithmetic, runs the same
// steps on the same data on Eigen (float and double) and on torch float32 tensors on a given
// device, and the parameters must agree. One harness, so the CUDA check runs exactly what CI runs
// on the CPU, only the device differs.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "optim/backend_eigen.h"
#include "optim/optimizer.h"
#include "optim/precond.h"
#include "optim/registry.h"
#include "realtrain/torch_backend.h"

namespace batchlab::realtrain::testing {

inline constexpr int kParitySteps = 6;
inline const std::vector<int> kParityGroupSizes = {36, 5};  // a "weight" and a "bias" group

// Two groups: the second (a bias) is excluded from weight decay and layer adaptation. The
// weight is a conv-like kernel 4 x 3 x 3, which Shampoo reads as a 4 x 9 matrix (its matmul and
// eigendecomposition on both backends); the bias takes its diagonal fallback.
inline std::vector<optim::GroupOptions> parity_groups() {
  optim::GroupOptions w;
  w.name = "conv.weight";
  w.shape = {4, 3, 3};
  optim::GroupOptions b;
  b.name = "fc.bias";
  b.exclude_from_weight_decay = true;
  b.exclude_from_adaptation = true;
  return {w, b};
}

// Initial parameters and per-step gradients, drawn once in double.
struct ParityData {
  std::vector<std::vector<double>> w0;
  std::vector<std::vector<double>> curvature;  // the diagonal D of "precond"
  std::vector<std::vector<std::vector<double>>> grads;  // [step][group][i]
};

inline ParityData make_parity_data(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n01(0.0, 1.0);
  ParityData d;
  std::uniform_real_distribution<double> curv(0.2, 2.0);
  for (int size : kParityGroupSizes) {
    std::vector<double> h(static_cast<std::size_t>(size));
    for (auto& x : h) x = curv(rng);
    d.curvature.push_back(h);
  }
  for (int size : kParityGroupSizes) {
    std::vector<double> w(static_cast<std::size_t>(size));
    for (auto& x : w) x = n01(rng);
    d.w0.push_back(w);
  }
  for (int t = 0; t < kParitySteps; ++t) {
    std::vector<std::vector<double>> gs;
    for (int size : kParityGroupSizes) {
      std::vector<double> g(static_cast<std::size_t>(size));
      for (auto& x : g) x = 0.5 * n01(rng) + 0.1;
      gs.push_back(g);
    }
    d.grads.push_back(gs);
  }
  return d;
}

inline double parity_lr_at(int t) { return 0.05 * (1.0 + 0.5 * t); }  // changing lr: momentum correction

template <class E>
std::vector<std::vector<double>> run_eigen(const optim::OptimizerConfig& cfg, const ParityData& d) {
  using Vec = typename E::Buffer;
  using S = typename E::Scalar;
  auto to_vec = [](const std::vector<double>& x) -> Vec {
    return Eigen::Map<const Eigen::VectorXd>(x.data(), static_cast<Eigen::Index>(x.size())).cast<S>();
  };
  std::vector<Vec> w;
  for (const auto& x : d.w0) w.push_back(to_vec(x));
  optim::Optimizer<E> opt(cfg, parity_groups());
  if (cfg.name == "precond")
    for (std::size_t gi = 0; gi < d.curvature.size(); ++gi) {
      Vec hv = to_vec(d.curvature[gi]);
      optim::precond_rule(opt.rule()).set_curvature(gi, hv);
    }
  for (int t = 0; t < kParitySteps; ++t) {
    std::vector<Vec> g;
    for (const auto& x : d.grads[static_cast<std::size_t>(t)]) g.push_back(to_vec(x));
    std::vector<typename E::View> views(w.begin(), w.end());
    std::vector<typename E::CView> cviews(g.begin(), g.end());
    opt.step(views, cviews, parity_lr_at(t));
  }
  std::vector<std::vector<double>> out;
  for (const auto& x : w) {
    Eigen::VectorXd xd = x.template cast<double>();
    out.emplace_back(xd.data(), xd.data() + xd.size());
  }
  return out;
}

// float32 on `device` (rounded from the double data once, as Eigen<float> is).
inline torch::Tensor to_parity_tensor(const std::vector<double>& x, torch::Device device) {
  return torch::tensor(x, torch::kDouble).to(torch::kFloat).to(device);
}

inline std::vector<std::vector<double>> run_torch(const optim::OptimizerConfig& cfg, const ParityData& d,
                                                  torch::Device device) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> w;
  for (const auto& x : d.w0) w.push_back(to_parity_tensor(x, device));
  optim::Optimizer<TorchBackend> opt(cfg, parity_groups());
  if (cfg.name == "precond")
    for (std::size_t gi = 0; gi < d.curvature.size(); ++gi)
      optim::precond_rule(opt.rule()).set_curvature(gi, to_parity_tensor(d.curvature[gi], device));
  for (int t = 0; t < kParitySteps; ++t) {
    std::vector<torch::Tensor> g;
    for (const auto& x : d.grads[static_cast<std::size_t>(t)]) g.push_back(to_parity_tensor(x, device));
    opt.step(w, g, parity_lr_at(t));
  }
  std::vector<std::vector<double>> out;
  for (const auto& x : w) {
    EXPECT_EQ(x.device(), device) << "the rule moved a parameter off " << device;
    torch::Tensor xd = x.to(torch::kCPU).to(torch::kDouble).contiguous();
    out.emplace_back(xd.data_ptr<double>(), xd.data_ptr<double>() + xd.numel());
  }
  return out;
}

// Expects |a - b| <= rel_tol (1 + |b|) element-wise; returns the largest |a - b| / (1 + |b|).
inline double expect_close(const std::vector<std::vector<double>>& a, const std::vector<std::vector<double>>& b,
                           double rel_tol, const std::string& what) {
  double worst = 0.0;
  EXPECT_EQ(a.size(), b.size()) << what;
  for (std::size_t gi = 0; gi < std::min(a.size(), b.size()); ++gi) {
    EXPECT_EQ(a[gi].size(), b[gi].size()) << what << " group " << gi;
    for (std::size_t i = 0; i < std::min(a[gi].size(), b[gi].size()); ++i) {
      const double rel = std::abs(a[gi][i] - b[gi][i]) / (1.0 + std::abs(b[gi][i]));
      worst = std::max(worst, rel);
      EXPECT_LE(rel, rel_tol) << what << " group " << gi << " element " << i << ": " << a[gi][i] << " vs "
                              << b[gi][i];
      if (rel > rel_tol) return worst;  // one element per setting is enough to read
    }
  }
  return worst;
}

// Settings per rule: plain, then each optional knob that changes the arithmetic (dampening,
// lr inside momentum with correction, global-norm clipping). A knob a rule rejects
// (validate_config throws ConfigError) is skipped for that rule; the plain setting never is.
inline std::vector<optim::OptimizerConfig> parity_configs_for(const std::string& name) {
  optim::OptimizerConfig plain;
  plain.name = name;
  plain.momentum = 0.9;
  plain.weight_decay = 0.01;
  plain.beta1 = 0.9;
  plain.beta2 = 0.99;
  plain.eps = 1e-6;
  plain.trust_coefficient = 0.02;
  plain.precond_every = 2;  // shampoo: inverse roots at updates 1, 3, 5
  // Shampoo's (S + eps I)^(-1/4) amplifies the float rounding of S by ~||S|| / eps: with the
  // default eps = 1e-6 and the rank-deficient early statistics, two float32 matmul orders (Eigen,
  // torch) give roots that differ by 1e-4 relative. eps = 1e-2 keeps the comparison about the
  // arithmetic, not about the conditioning.
  plain.precond_eps = 1e-2;
  std::vector<optim::OptimizerConfig> out = {plain};
  if (name == "shampoo") {  // the other graft with a warm-up, and no graft
    optim::OptimizerConfig sgd_graft = plain;
    sgd_graft.shampoo_graft = "sgd";
    sgd_graft.precond_warmup = 2;
    optim::OptimizerConfig no_graft = plain;
    no_graft.shampoo_graft = "none";
    out.push_back(sgd_graft);
    out.push_back(no_graft);
  }
  optim::OptimizerConfig damp = plain;
  damp.dampening = 0.1;
  optim::OptimizerConfig goyal = plain;
  goyal.lr_in_momentum = true;
  goyal.momentum_correction = true;
  optim::OptimizerConfig clip = plain;
  clip.max_grad_norm = 0.5;
  for (const auto& c : {damp, goyal, clip}) {
    try {
      optim::validate_config(c);
      out.push_back(c);
    } catch (const optim::ConfigError&) {
    }
  }
  return out;
}

// Tolerances of torch float32 against Eigen float and double, relative to 1 + |value|.
inline constexpr double kParityTolFloat = 2e-6;
inline constexpr double kParityTolDouble = 2e-5;

struct ParityDeviation {
  int settings = 0;         // (rule, setting) pairs run
  double vs_float = 0.0;    // largest relative deviation of torch from Eigen<float>
  double vs_double = 0.0;   // ... from Eigen<double>
};

// Every registered rule in every setting, torch on `device` against Eigen; records the largest
// deviations as test properties (scripts/gpu_check reports them).
inline ParityDeviation expect_every_rule_matches_eigen(torch::Device device) {
  ParityDeviation dev;
  const auto names = optim::rule_names();
  EXPECT_FALSE(names.empty());
  const ParityData d = make_parity_data(20261122);
  for (const auto& name : names) {
    int variant = 0;
    for (const auto& cfg : parity_configs_for(name)) {
      SCOPED_TRACE(name + " setting " + std::to_string(variant++) + " on " + device.str());
      const auto wd = run_eigen<optim::EigenD>(cfg, d);
      const auto wf = run_eigen<optim::EigenF>(cfg, d);
      const auto wt = run_torch(cfg, d, device);
      // The rule moved the parameters (a rule that did nothing would pass trivially).
      double moved = 0.0;
      for (std::size_t gi = 0; gi < wd.size(); ++gi)
        for (std::size_t i = 0; i < wd[gi].size(); ++i) moved += std::abs(wd[gi][i] - d.w0[gi][i]);
      EXPECT_GT(moved, 1e-3) << name;
      dev.vs_float = std::max(dev.vs_float, expect_close(wt, wf, kParityTolFloat, "torch vs eigen<float>"));
      dev.vs_double = std::max(dev.vs_double, expect_close(wt, wd, kParityTolDouble, "torch vs eigen<double>"));
      ++dev.settings;
    }
  }
  ::testing::Test::RecordProperty("settings", dev.settings);
  auto sci = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return std::string(buf);
  };
  ::testing::Test::RecordProperty("max_rel_dev_vs_float", sci(dev.vs_float));
  ::testing::Test::RecordProperty("max_rel_dev_vs_double", sci(dev.vs_double));
  return dev;
}

}  // namespace batchlab::realtrain::testing
