// Sync policies over K in-process workers: the equivalences that define them (local:1 = sync
// for plain SGD, post-local past the end = sync, post-local at 0 = local), averaging identical
// workers changes nothing, momentum is averaged only when asked, the hierarchical schedule, and
// parse errors.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "optim/backend_eigen.h"
#include "optim/communicator.h"
#include "optim/optimizer.h"
#include "optim/sync.h"
#include "optim/sync_policy.h"

using namespace batchlab::optim;

namespace {

constexpr int kDim = 5;

BufferRef ref(Eigen::VectorXd& v) { return buffer_ref(std::span<double>(v.data(), v.size())); }

// Worker k's stochastic gradient at w on update t: a different quadratic per worker plus a
// deterministic "noise" term, so workers disagree and replicas drift apart between averages.
Eigen::VectorXd gradient(int k, int t, const Eigen::VectorXd& w) {
  Eigen::VectorXd g(kDim);
  for (int i = 0; i < kDim; ++i)
    g[i] = (0.5 + 0.3 * i + 0.2 * k) * w[i] - (0.1 * k - 0.05 * i) +
           0.2 * std::sin(1.7 * k + 0.9 * i + 1.1 * t);
  return g;
}

// Runs K workers for `steps` updates under `policy` and returns every replica's parameters.
std::vector<Eigen::VectorXd> simulate(const SyncPolicy& policy, int K, int steps,
                                      const OptimizerConfig& cfg) {
  InProcessCommunicator comm(K);
  std::vector<Eigen::VectorXd> w(K, Eigen::VectorXd::LinSpaced(kDim, -1.0, 1.0));
  std::vector<Optimizer<EigenD>> opt;
  for (int k = 0; k < K; ++k) opt.emplace_back(cfg, std::vector<GroupOptions>{GroupOptions{"w"}});
  for (int t = 0; t < steps; ++t) {
    std::vector<Eigen::VectorXd> g(K);
    for (int k = 0; k < K; ++k) g[k] = gradient(k, t, w[k]);
    if (policy.allreduce_gradients(t)) {
      std::vector<BufferRef> gs;
      for (auto& x : g) gs.push_back(ref(x));
      comm.allreduce_mean(gs);
    }
    std::vector<std::vector<BufferRef>> params(K), momentum(K);
    for (int k = 0; k < K; ++k) {
      opt[k].step({w[k]}, {g[k]}, 0.1);
      params[k] = {ref(w[k])};
      for (auto& [name, buf] : opt[k].rule().state(0)) momentum[k].push_back(ref(*buf));
    }
    apply_parameter_averaging(policy, t, comm, nullptr, params, momentum);
  }
  return w;
}

double max_diff(const std::vector<Eigen::VectorXd>& a, const std::vector<Eigen::VectorXd>& b) {
  double d = 0.0;
  for (std::size_t k = 0; k < a.size(); ++k) d = std::max(d, (a[k] - b[k]).cwiseAbs().maxCoeff());
  return d;
}

OptimizerConfig sgd() {
  OptimizerConfig c;
  c.name = "sgd";
  c.weight_decay = 0.01;
  return c;
}

OptimizerConfig heavy_ball() {
  OptimizerConfig c;
  c.name = "momentum";
  c.momentum = 0.9;
  return c;
}

TEST(SyncPolicy, LocalOneEqualsSyncForPlainSgdWithDifferentWorkerGradients) {
  // SGD is linear in g: mean_k (w - lr g_k) = w - lr mean_k g_k when all replicas share w.
  const auto sync = simulate(SyncPolicy::parse("sync"), 3, 12, sgd());
  const auto local1 = simulate(SyncPolicy::parse("local:1"), 3, 12, sgd());
  EXPECT_LT(max_diff(sync, local1), 1e-14);
  EXPECT_LT((sync[0] - sync[2]).cwiseAbs().maxCoeff(), 1e-15);  // replicas stay identical
  // ... and the comparison can fail: local:4 lets replicas drift.
  const auto local4 = simulate(SyncPolicy::parse("local:4"), 3, 12, sgd());
  EXPECT_GT(max_diff(sync, local4), 1e-4);
}

TEST(SyncPolicy, PostLocalWithSwitchPastTheEndEqualsSync) {
  const auto sync = simulate(SyncPolicy::parse("sync"), 3, 10, heavy_ball());
  const auto post = simulate(SyncPolicy::parse("post-local:4@100"), 3, 10, heavy_ball());
  EXPECT_EQ(max_diff(sync, post), 0.0);
  const auto early = simulate(SyncPolicy::parse("post-local:4@5"), 3, 10, heavy_ball());
  EXPECT_GT(max_diff(sync, early), 1e-6);
}

TEST(SyncPolicy, PostLocalSwitchingAtZeroIsLocal) {
  const auto local = simulate(SyncPolicy::parse("local:3"), 2, 9, heavy_ball());
  const auto post = simulate(SyncPolicy::parse("post-local:3@0"), 2, 9, heavy_ball());
  EXPECT_EQ(max_diff(local, post), 0.0);
}

TEST(SyncPolicy, AveragingIdenticalWorkersIsANoOp) {
  InProcessCommunicator comm(3);
  Eigen::VectorXd base(4), mom(4);
  base << 0.1, -2.5, 3.3333333333333335, 1e-7;
  mom << 1.0, 0.2, -0.3, 7.0;
  std::vector<Eigen::VectorXd> w(3, base), m(3, mom);
  std::vector<std::vector<BufferRef>> params, momentum;
  for (int k = 0; k < 3; ++k) {
    params.push_back({ref(w[k])});
    momentum.push_back({ref(m[k])});
  }
  const SyncPolicy p = SyncPolicy::parse("local:1", /*average_momentum=*/true);
  EXPECT_EQ(apply_parameter_averaging(p, 0, comm, nullptr, params, momentum), AverageScope::kGlobal);
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < 4; ++i) {
      EXPECT_DOUBLE_EQ(w[k][i], base[i]);
      EXPECT_DOUBLE_EQ(m[k][i], mom[i]);
    }
}

TEST(SyncPolicy, MomentumIsAveragedOnlyWhenAsked) {
  for (bool avg : {false, true}) {
    InProcessCommunicator comm(2);
    std::vector<Eigen::VectorXd> w = {Eigen::VectorXd::Constant(2, 1.0), Eigen::VectorXd::Constant(2, 3.0)};
    std::vector<Eigen::VectorXd> m = {Eigen::VectorXd::Constant(2, -1.0), Eigen::VectorXd::Constant(2, 5.0)};
    std::vector<std::vector<BufferRef>> params = {{ref(w[0])}, {ref(w[1])}};
    std::vector<std::vector<BufferRef>> momentum = {{ref(m[0])}, {ref(m[1])}};
    apply_parameter_averaging(SyncPolicy::parse("local:2", avg), 1, comm, nullptr, params, momentum);
    EXPECT_EQ(w[0][0], 2.0);
    EXPECT_EQ(w[1][1], 2.0);
    EXPECT_EQ(m[0][0], avg ? 2.0 : -1.0);
    EXPECT_EQ(m[1][0], avg ? 2.0 : 5.0);
  }
}

TEST(SyncPolicy, ScheduleOfEachPolicyUpdateByUpdate) {
  // Averaging after the update with 0-based index t (t + 1 updates done).
  const SyncPolicy local = SyncPolicy::parse("local:4");
  const SyncPolicy post = SyncPolicy::parse("post-local:2@3");
  const SyncPolicy hier = SyncPolicy::parse("hier:2:3");
  const SyncPolicy sync = SyncPolicy::parse("sync");
  using A = AverageScope;
  const A want_local[] = {A::kNone, A::kNone, A::kNone, A::kGlobal, A::kNone, A::kNone,
                          A::kNone, A::kGlobal, A::kNone, A::kNone, A::kNone, A::kGlobal};
  const A want_post[] = {A::kNone, A::kNone, A::kNone, A::kNone, A::kGlobal, A::kNone,
                         A::kGlobal, A::kNone, A::kGlobal, A::kNone, A::kGlobal, A::kNone};
  // node after every 2nd update, global after every 6th (instead of the node average)
  const A want_hier[] = {A::kNone, A::kNode, A::kNone, A::kNode, A::kNone, A::kGlobal,
                         A::kNone, A::kNode, A::kNone, A::kNode, A::kNone, A::kGlobal};
  for (int t = 0; t < 12; ++t) {
    EXPECT_EQ(local.average_after(t), want_local[t]) << "local t=" << t;
    EXPECT_EQ(post.average_after(t), want_post[t]) << "post t=" << t;
    EXPECT_EQ(hier.average_after(t), want_hier[t]) << "hier t=" << t;
    EXPECT_EQ(sync.average_after(t), A::kNone);
    EXPECT_TRUE(sync.allreduce_gradients(t));
    EXPECT_FALSE(local.allreduce_gradients(t));
    EXPECT_FALSE(hier.allreduce_gradients(t));
    EXPECT_EQ(post.allreduce_gradients(t), t < 3) << "post t=" << t;
  }
  EXPECT_EQ(sync.communication_rounds(12), 12);
  EXPECT_EQ(local.communication_rounds(12), 3);
  EXPECT_EQ(post.communication_rounds(12), 3 + 4);  // 3 all-reduces, averages after 5,7,9,11
  EXPECT_EQ(hier.communication_rounds(12), 6);      // 4 node + 2 global
}

// Counts the collectives that reach it (to check which communicator a scope uses).
class CountingCommunicator final : public Communicator {
 public:
  explicit CountingCommunicator(int workers) : inner_(workers) {}
  int world_size() const override { return inner_.world_size(); }
  int replicas_here() const override { return inner_.replicas_here(); }
  int first_worker() const override { return 0; }
  void allreduce_mean(std::span<const BufferRef> r) override {
    ++calls;
    inner_.allreduce_mean(r);
  }
  void broadcast(std::span<const BufferRef> r, int root) override { inner_.broadcast(r, root); }
  void barrier() override {}
  std::string name() const override { return "counting"; }
  int calls = 0;

 private:
  InProcessCommunicator inner_;
};

TEST(SyncPolicy, HierarchicalAveragesOverTheNodeThenGlobally) {
  CountingCommunicator global(2), node(2);
  const SyncPolicy p = SyncPolicy::parse("hier:2:3");
  std::vector<Eigen::VectorXd> w = {Eigen::VectorXd::Constant(3, 0.0), Eigen::VectorXd::Constant(3, 4.0)};
  std::vector<std::vector<BufferRef>> params = {{ref(w[0])}, {ref(w[1])}};
  std::vector<int> node_calls, global_calls;
  for (int t = 0; t < 6; ++t) {
    apply_parameter_averaging(p, t, global, &node, params, {});
    node_calls.push_back(node.calls);
    global_calls.push_back(global.calls);
  }
  EXPECT_EQ(node_calls, (std::vector<int>{0, 1, 1, 2, 2, 2}));
  EXPECT_EQ(global_calls, (std::vector<int>{0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(w[0][0], 2.0);
  EXPECT_THROW(apply_parameter_averaging(p, 1, global, nullptr, params, {}), std::invalid_argument);
}

TEST(SyncPolicy, ParseRoundTripsAndRejectsBadSpecs) {
  for (const char* s : {"sync", "local:8", "post-local:16@150", "hier:4:8"})
    EXPECT_EQ(SyncPolicy::parse(s).to_string(), s);
  const SyncPolicy p = SyncPolicy::parse("post-local:16@150");
  EXPECT_EQ(p.period, 16);
  EXPECT_EQ(p.switch_step, 150);
  for (const char* bad : {"local:0", "local:-2", "local:", "local:x", "local:4x", "post-local:4",
                          "post-local:0@5", "post-local:2@-1", "post-local:2@", "hier:2",
                          "hier:0:3", "hier:2:0", "async", "Sync", ""}) {
    try {
      SyncPolicy::parse(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos)
          << e.what();
    }
  }
  try {
    SyncPolicy::parse("local:0");
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("H = 0"), std::string::npos) << e.what();
  }
}

}  // namespace
