// DiLoCo and Streaming DiLoCo (optim/diloco.h) over K in-process workers: the equivalences that
// define the outer step (outer SGD at lr 1 without momentum is local:H; H = 1 of that is sync),
// the outer Nesterov step by hand, fragments covering every parameter once per H, the delayed
// (overlapped) application, the quantiser's error bound and unbiasedness, the byte count, and
// the bad-input messages.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "optim/backend_eigen.h"
#include "optim/communicator.h"
#include "optim/config.h"
#include "optim/diloco.h"
#include "optim/optimizer.h"
#include "optim/quantize.h"
#include "optim/sync.h"
#include "optim/sync_policy.h"

using namespace batchlab::optim;

namespace {

constexpr int kDim = 5;

BufferRef ref(Eigen::VectorXd& v) { return buffer_ref(std::span<double>(v.data(), v.size())); }

// Worker k's gradient at w on update t: a different quadratic per worker plus a deterministic
// "noise" term, so replicas drift apart between synchronisations.
Eigen::VectorXd gradient(int k, int t, const Eigen::VectorXd& w) {
  Eigen::VectorXd g(kDim);
  for (int i = 0; i < kDim; ++i)
    g[i] = (0.5 + 0.3 * i + 0.2 * k) * w[i] - (0.1 * k - 0.05 * i) + 0.2 * std::sin(1.7 * k + 0.9 * i + 1.1 * t);
  return g;
}

OptimizerConfig rule(const std::string& name) {
  OptimizerConfig c;
  c.name = name;
  c.momentum = name == "momentum" ? 0.9 : 0.0;
  c.weight_decay = 0.01;
  return c;
}

// K replicas of the same starting parameters, each with its own optimizer (the simulator's
// workers), and the views DilocoSync / apply_parameter_averaging take of them.
struct Replicas {
  Replicas(int K, const OptimizerConfig& cfg) : w(K, Eigen::VectorXd::LinSpaced(kDim, -1.0, 1.0)), params(K) {
    for (int k = 0; k < K; ++k) {
      opt.emplace_back(cfg, std::vector<GroupOptions>{GroupOptions{"w"}});
      params[k] = {ref(w[k])};
    }
  }
  std::vector<Eigen::VectorXd> w;
  std::vector<Optimizer<EigenD>> opt;
  std::vector<std::vector<BufferRef>> params;
};

// K workers, `steps` updates at lr 0.1 under `policy` (DiLoCo through DilocoSync, everything
// else through apply_parameter_averaging); returns every replica's parameters.
std::vector<Eigen::VectorXd> simulate(const SyncPolicy& policy, int K, int steps, const OptimizerConfig& cfg,
                                      DilocoStats* stats = nullptr) {
  InProcessCommunicator comm(K);
  Replicas r(K, cfg);
  auto& w = r.w;
  auto& opt = r.opt;
  auto& params = r.params;
  std::unique_ptr<DilocoSync> diloco;
  if (policy.outer_steps()) diloco = std::make_unique<DilocoSync>(policy, params, 0, 7);
  for (int t = 0; t < steps; ++t) {
    std::vector<Eigen::VectorXd> g(K);
    for (int k = 0; k < K; ++k) g[k] = gradient(k, t, w[k]);
    if (policy.allreduce_gradients(t)) {
      std::vector<BufferRef> gs;
      for (auto& x : g) gs.push_back(ref(x));
      comm.allreduce_mean(gs);
    }
    for (int k = 0; k < K; ++k) opt[k].step({w[k]}, {g[k]}, 0.1);
    if (diloco) {
      diloco->after_update(t, comm);
    } else {
      apply_parameter_averaging(policy, t, comm, nullptr, params, {});
    }
  }
  if (stats && diloco) *stats = diloco->stats();
  return w;
}

double max_diff(const std::vector<Eigen::VectorXd>& a, const std::vector<Eigen::VectorXd>& b) {
  double d = 0.0;
  for (std::size_t k = 0; k < a.size(); ++k) d = std::max(d, (a[k] - b[k]).cwiseAbs().maxCoeff());
  return d;
}

OuterConfig outer(OuterRule r, double lr, double mu, int bits = 32) {
  OuterConfig o;
  o.rule = r;
  o.lr = lr;
  o.momentum = mu;
  o.bits = bits;
  return o;
}

}  // namespace

TEST(Diloco, OuterSgdAtLrOneWithoutMomentumIsLocalSgd) {
  const OuterConfig plain = outer(OuterRule::kSgd, 1.0, 0.0);
  for (const char* inner : {"momentum", "adam"}) {
    const auto local = simulate(SyncPolicy::parse("local:4"), 3, 14, rule(inner));
    const auto diloco = simulate(SyncPolicy::parse("diloco:4", false, plain), 3, 14, rule(inner));
    EXPECT_LT(max_diff(local, diloco), 1e-12) << inner;
    // ... and it can fail: the paper's outer Nesterov step is not an average.
    const auto nesterov = simulate(SyncPolicy::parse("diloco:4"), 3, 14, rule(inner));
    EXPECT_GT(max_diff(local, nesterov), 1e-4) << inner;
  }
}

TEST(Diloco, PeriodOneWithOuterSgdAtLrOneIsSync) {
  // Linear inner rules: mean_k of one step from a shared w is the step on the mean gradient.
  const OuterConfig plain = outer(OuterRule::kSgd, 1.0, 0.0);
  for (const char* inner : {"sgd", "momentum"}) {
    const auto sync = simulate(SyncPolicy::parse("sync"), 3, 10, rule(inner));
    const auto diloco = simulate(SyncPolicy::parse("diloco:1", false, plain), 3, 10, rule(inner));
    EXPECT_LT(max_diff(sync, diloco), 1e-13) << inner;
  }
}

TEST(Diloco, OuterNesterovStepMatchesTheEquationByHand) {
  // Two rounds of H = 3 by hand: Delta = theta - mean theta_m; v = mu v + Delta;
  // theta -= eta (Delta + mu v); both workers restart from theta.
  const double eta = 0.7, mu = 0.9;
  const SyncPolicy p = SyncPolicy::parse("diloco:3", false, outer(OuterRule::kNesterov, eta, mu));
  const int K = 2;
  std::vector<Eigen::VectorXd> w(K, Eigen::VectorXd::LinSpaced(kDim, -1.0, 1.0));
  std::vector<Optimizer<EigenD>> opt;
  for (int k = 0; k < K; ++k) opt.emplace_back(rule("sgd"), std::vector<GroupOptions>{GroupOptions{"w"}});
  Eigen::VectorXd theta = w[0], v = Eigen::VectorXd::Zero(kDim);
  const auto got = simulate(p, K, 6, rule("sgd"));
  for (int t = 0; t < 6; ++t) {
    for (int k = 0; k < K; ++k) opt[k].step({w[k]}, {gradient(k, t, w[k])}, 0.1);
    if ((t + 1) % 3 == 0) {
      const Eigen::VectorXd delta = theta - 0.5 * (w[0] + w[1]);
      v = mu * v + delta;
      theta -= eta * (delta + mu * v);
      w[0] = w[1] = theta;
    }
  }
  EXPECT_LT(max_diff(got, w), 1e-12);
}

TEST(StreamingDiloco, FragmentsCoverEveryParameterExactlyOncePerPeriod) {
  // Buffers of uneven sizes, fragments that cut across them.
  std::vector<std::vector<double>> bufs = {std::vector<double>(3), std::vector<double>(7), std::vector<double>(1),
                                           std::vector<double>(5)};
  std::vector<BufferRef> layout;
  for (auto& b : bufs) layout.push_back(buffer_ref(std::span<double>(b)));
  const SyncPolicy p = SyncPolicy::parse("streaming-diloco:8:4");
  const DilocoSync s(p, {layout}, 0, 0);
  ASSERT_EQ(s.parameter_count(), 16);
  for (std::int64_t start = 0; start < 20; ++start) {
    std::vector<int> seen(16, 0);
    for (std::int64_t t = start; t < start + 8; ++t) {
      const std::int64_t f = p.fragment_due_after(t);
      if (f < 0) continue;
      for (const auto& pc : s.fragment(f)) {
        std::size_t flat = pc.offset;
        for (std::size_t b = 0; b < pc.buffer; ++b) flat += bufs[b].size();
        for (std::size_t k = 0; k < pc.count; ++k) ++seen[flat + k];
      }
    }
    for (int i = 0; i < 16; ++i) EXPECT_EQ(seen[static_cast<std::size_t>(i)], 1) << "start " << start << " scalar " << i;
  }
  // Staggered: fragment f is due after updates done = f H/F (mod H).
  EXPECT_EQ(p.fragment_due_after(7), 0);   // 8 done
  EXPECT_EQ(p.fragment_due_after(1), 1);   // 2 done
  EXPECT_EQ(p.fragment_due_after(13), 3);  // 14 done = 6 (mod 8)
  EXPECT_EQ(p.fragment_due_after(2), -1);
  EXPECT_EQ(p.communication_rounds(16), 8);
}

TEST(StreamingDiloco, OneFragmentIsDiloco) {
  const auto a = simulate(SyncPolicy::parse("diloco:4"), 2, 12, rule("adam"));
  const auto b = simulate(SyncPolicy::parse("streaming-diloco:4:1"), 2, 12, rule("adam"));
  EXPECT_EQ(max_diff(a, b), 0.0);
}

TEST(StreamingDiloco, OverlapLandsTheResultTauUpdatesLaterKeepingLocalProgress) {
  // One worker, outer SGD at lr 1: theta becomes the worker's own values at the send, and on
  // arrival the worker keeps what it learnt meanwhile, so nothing changes at all.
  OuterConfig o = outer(OuterRule::kSgd, 1.0, 0.0);
  o.overlap = true;
  o.overlap_steps = 2;
  const auto alone = simulate(SyncPolicy::parse("local:1000"), 1, 13, rule("adam"));
  EXPECT_LT(max_diff(alone, simulate(SyncPolicy::parse("streaming-diloco:4:2", false, o), 1, 13, rule("adam"))),
            1e-13);
  // Two workers: delayed application differs from immediate application.
  const auto now = simulate(SyncPolicy::parse("streaming-diloco:4:2", false, outer(OuterRule::kSgd, 1.0, 0.0)), 2, 13,
                            rule("adam"));
  const auto later = simulate(SyncPolicy::parse("streaming-diloco:4:2", false, o), 2, 13, rule("adam"));
  EXPECT_GT(max_diff(now, later), 1e-6);
}

TEST(Quantize, ErrorWithinItsBoundAndStochasticRoundingUnbiased) {
  std::mt19937_64 gen(3);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> x(1000);
  for (auto& v : x) v = normal(gen);
  double max_abs = 0.0;
  for (double v : x) max_abs = std::max(max_abs, std::abs(v));
  for (int bits : {16, 8, 4}) {
    const double s = max_abs / (std::ldexp(1.0, bits - 1) - 1.0);
    for (Rounding r : {Rounding::kNearest, Rounding::kStochastic}) {
      std::vector<double> y = x;
      const QuantError e = quantize_dequantize(y, bits, r, 11);
      const double bound = r == Rounding::kNearest ? 0.5 * s : s;
      double worst = 0.0;
      for (std::size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(y[i] - x[i]));
      EXPECT_LE(worst, bound * (1 + 1e-12)) << bits;
      EXPECT_NEAR(e.max_over_bound, worst / bound, 1e-9);
      EXPECT_GT(e.relative(), 0.0);
      EXPECT_LT(e.relative(), bound / std::sqrt(e.ref_sq / static_cast<double>(x.size())));
    }
  }
  // Stochastic rounding: the mean over 4000 seeds of a 4-bit value tends to the value.
  std::vector<double> probe = {0.37, -0.91, 1.0, 0.05};
  std::vector<double> mean(probe.size(), 0.0);
  for (std::uint64_t seed = 0; seed < 4000; ++seed) {
    std::vector<double> y = probe;
    quantize_dequantize(y, 4, Rounding::kStochastic, seed);
    for (std::size_t i = 0; i < y.size(); ++i) mean[i] += y[i] / 4000.0;
  }
  for (std::size_t i = 0; i < probe.size(); ++i) EXPECT_NEAR(mean[i], probe[i], 0.01) << i;
  std::vector<double> y = x;
  quantize_dequantize(y, 32, Rounding::kNearest, 0);
  EXPECT_EQ(y, x);
}

TEST(Diloco, CountsQuantisedBytesAndReportsTheMeasuredError) {
  DilocoStats full, four;
  simulate(SyncPolicy::parse("diloco:4"), 2, 8, rule("adam"), &full);
  simulate(SyncPolicy::parse("diloco:4", false, outer(OuterRule::kNesterov, 0.7, 0.9, 4)), 2, 8, rule("adam"), &four);
  EXPECT_EQ(full.outer_steps, 2);
  EXPECT_EQ(full.bytes_sent, 2 * 5 * 4);
  EXPECT_EQ(four.bytes_sent, 2 * ((5 * 4 + 7) / 8 + 4));  // 4-bit codes plus a float32 scale
  EXPECT_EQ(full.total_error.err_sq, 0.0);
  EXPECT_GT(four.total_error.relative(), 0.0);
  EXPECT_LE(four.total_error.max_over_bound, 1.0 + 1e-12);
}

TEST(SyncPolicy, BytesSentCountsGradientsAndAverages) {
  EXPECT_EQ(SyncPolicy::parse("sync").bytes_sent(0, 10, 10), 40);
  EXPECT_EQ(SyncPolicy::parse("local:2").bytes_sent(0, 10, 10), 0);
  EXPECT_EQ(SyncPolicy::parse("local:2").bytes_sent(1, 10, 10), 40);
  EXPECT_EQ(SyncPolicy::parse("local:2", true).bytes_sent(1, 10, 10), 80);
}

TEST(Diloco, BadInputNamesTheRule) {
  auto message = [](auto f) {
    try {
      f();
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([] { SyncPolicy::parse("diloco:0"); }).find("H = 0"), std::string::npos);
  EXPECT_NE(message([] { SyncPolicy::parse("streaming-diloco:8:3"); }).find("must divide H"), std::string::npos);
  EXPECT_NE(message([] { SyncPolicy::parse("streaming-diloco:8"); }).find("streaming-diloco:H:F"), std::string::npos);
  EXPECT_NE(message([] { SyncPolicy::parse("diloco:4", false, outer(OuterRule::kSgd, 1, 0, 5)); })
                .find("must be one of 32, 16, 8, 4"),
            std::string::npos);
  OuterConfig o;
  o.overlap = true;
  o.overlap_steps = 4;
  EXPECT_NE(message([&] { SyncPolicy::parse("diloco:4", false, o); }).find("[1, H)"), std::string::npos);
  EXPECT_NE(message([] { SyncPolicy::parse("diloco:4", true); }).find("average_momentum"), std::string::npos);
  EXPECT_NE(message([] { OuterConfig::parse_rule("adam"); }).find("nesterov, sgd"), std::string::npos);
  std::vector<double> two(2);
  EXPECT_NE(message([&] {
              DilocoSync(SyncPolicy::parse("streaming-diloco:3:3"), {{buffer_ref(std::span<double>(two))}}, 0, 0);
            }).find("at least one"),
            std::string::npos);
  for (const std::string s : {"diloco:500", "streaming-diloco:100:4"}) EXPECT_EQ(SyncPolicy::parse(s).to_string(), s);
}

namespace {

// K workers under `policy` for `steps` updates as in simulate(), but the sync is rebuilt from
// save_state() after update `stop` (a fresh DilocoSync over the same replicas, as a resumed
// trainer rebuilds it), optimizer state kept. Returns every replica's parameters.
std::vector<Eigen::VectorXd> simulate_resumed(const SyncPolicy& policy, int K, int steps, int stop,
                                              const OptimizerConfig& cfg, DilocoStats* stats) {
  InProcessCommunicator comm(K);
  Replicas r(K, cfg);
  auto& w = r.w;
  auto& opt = r.opt;
  auto& params = r.params;
  auto diloco = std::make_unique<DilocoSync>(policy, params, 0, 7);
  for (int t = 0; t < steps; ++t) {
    for (int k = 0; k < K; ++k) {
      Eigen::VectorXd g = gradient(k, t, w[k]);
      opt[k].step({w[k]}, {g}, 0.1);
    }
    diloco->after_update(t, comm);
    if (t + 1 == stop) {
      const auto saved = diloco->save_state();
      // The fresh sync's theta is the replicas' current (local) values: restore must replace it.
      diloco = std::make_unique<DilocoSync>(policy, params, 0, 7);
      diloco->restore_state(saved);
    }
  }
  *stats = diloco->stats();
  return w;
}

}  // namespace

TEST(Diloco, SavedOuterStateContinuesTheRunExactly) {
  // Streaming with 4-bit stochastic rounding and overlap (H = 4, F = 2, tau = 1): fragment 1 is
  // sent after 2, 6, 10, ... updates are done and lands one update later, so stopping after 6
  // or 10 leaves it in flight; 12 stops at a round boundary. Outer momentum is nonzero by then.
  OuterConfig o = outer(OuterRule::kNesterov, 0.7, 0.9, 4);
  o.rounding = Rounding::kStochastic;
  o.overlap = true;
  o.overlap_steps = 1;
  for (const SyncPolicy& p : {SyncPolicy::parse("streaming-diloco:4:2", false, o),
                              SyncPolicy::parse("diloco:3", false, outer(OuterRule::kNesterov, 0.7, 0.9))}) {
    DilocoStats straight_stats, resumed_stats;
    const auto straight = simulate(p, 3, 17, rule("adam"), &straight_stats);
    for (int stop : {6, 10, 12}) {
      const auto resumed = simulate_resumed(p, 3, 17, stop, rule("adam"), &resumed_stats);
      EXPECT_EQ(max_diff(straight, resumed), 0.0) << p.to_string() << " stopped after " << stop;
      EXPECT_EQ(resumed_stats.bytes_sent, straight_stats.bytes_sent);
      EXPECT_EQ(resumed_stats.outer_steps, straight_stats.outer_steps);
      EXPECT_EQ(resumed_stats.total_error.err_sq, straight_stats.total_error.err_sq);
    }
  }
  // Without the restore the run differs (the test can fail): a fresh sync's theta is local.
  const SyncPolicy p = SyncPolicy::parse("diloco:3", false, outer(OuterRule::kNesterov, 0.7, 0.9));
  InProcessCommunicator comm(2);
  std::vector<Eigen::VectorXd> w(2, Eigen::VectorXd::LinSpaced(kDim, -1.0, 1.0));
  DilocoSync a(p, {{ref(w[0])}, {ref(w[1])}}, 0, 7);
  w[0][0] += 1.0;  // replicas drift apart, then a fresh sync starts from replica 0's values
  DilocoSync b(p, {{ref(w[0])}, {ref(w[1])}}, 0, 7);
  EXPECT_NE(a.save_state().at("global"), b.save_state().at("global"));
}

TEST(Diloco, RestoreRefusesAnotherLayout) {
  std::vector<double> x(6, 0.0);
  const std::vector<std::vector<BufferRef>> params = {{buffer_ref(std::span<double>(x))}};
  const auto saved = DilocoSync(SyncPolicy::parse("streaming-diloco:4:2"), params, 0, 0).save_state();
  auto refused = [&](const std::string& policy, const std::map<std::string, std::vector<double>>& s) {
    try {
      DilocoSync(SyncPolicy::parse(policy), params, 0, 0).restore_state(s);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(refused("streaming-diloco:4:2", saved), "accepted");
  EXPECT_NE(refused("streaming-diloco:4:4", saved).find("saved with N = 6, H = 4, F = 2"), std::string::npos);
  EXPECT_NE(refused("diloco:4", saved).find("this run has N = 6, H = 4, F = 1"), std::string::npos);
  auto no_momentum = saved;
  no_momentum.erase("momentum");
  EXPECT_NE(refused("streaming-diloco:4:2", no_momentum).find("lacks 'momentum'"), std::string::npos);
}
