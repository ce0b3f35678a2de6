#include "sim/sampled.h"

#include <cmath>
#include <limits>
#include <memory>
#include <span>

#include "optim/backend_eigen.h"
#include "optim/batch_schedule.h"
#include "optim/communicator.h"
#include "optim/optimizer.h"
#include "optim/precond.h"
#include "optim/schedule.h"
#include "optim/sync.h"
#include "sim/curve.h"
#include "sim/landscape.h"

namespace batchlab::sim {
namespace {

using optim::BufferRef;
using optim::EigenD;

constexpr double kDivergeFactor = 1e6;

// Parameter averaging within consecutive nodes of node_size workers (hierarchical local SGD).
class NodeCommunicator final : public optim::Communicator {
 public:
  NodeCommunicator(int workers, int node_size) : workers_(workers), node_(node_size) {}
  int world_size() const override { return workers_; }
  int replicas_here() const override { return workers_; }
  int first_worker() const override { return 0; }
  void allreduce_mean(std::span<const BufferRef> reps) override {
    for (int first = 0; first < workers_; first += node_) {
      optim::InProcessCommunicator c(node_);
      c.allreduce_mean(reps.subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(node_)));
    }
  }
  void broadcast(std::span<const BufferRef>, int) override {
    throw std::logic_error("NodeCommunicator::broadcast is not used by the simulator");
  }
  void barrier() override {}
  std::string name() const override { return "inprocess-nodes"; }

 private:
  int workers_, node_;
};

BufferRef ref(Eigen::VectorXd& v) { return optim::buffer_ref(std::span<double>(v.data(), v.size())); }

}  // namespace

TrialResult run_sampled(const TrialSpec& spec) {
  const auto land = make_landscape(spec.landscape);
  const int K = spec.workers;
  // Global batch of update t (constant unless a batch schedule grows it), split over K workers.
  const optim::BatchSchedule batches(spec.batch_size, spec.batch_schedule, K);
  const auto& groups = land->groups();

  optim::OptimizerConfig cfg = spec.optimizer;
  const bool ema = cfg.name == "ema";
  if (ema) cfg.name = cfg.momentum != 0.0 ? "momentum" : "sgd";
  std::vector<optim::GroupOptions> gopts;
  for (const auto& g : groups) gopts.push_back({g.name, 1.0, 1.0, g.is_bias, g.is_bias});

  Rng init_rng = make_rng(spec.seed, kInitStream);
  const Eigen::VectorXd theta0 = land->initial_point(init_rng);
  std::vector<Eigen::VectorXd> params(static_cast<std::size_t>(K), theta0);
  std::vector<Eigen::VectorXd> grads(static_cast<std::size_t>(K), Eigen::VectorXd::Zero(land->dim()));
  std::vector<BatchStream> streams;
  std::vector<std::unique_ptr<optim::Optimizer<EigenD>>> opts;
  const bool precond = optim::canonical_rule_name(cfg.name) == "precond";
  const Eigen::VectorXd curv = precond ? land->curvature_diagonal() : Eigen::VectorXd();
  for (int w = 0; w < K; ++w) {
    streams.emplace_back(make_rng(spec.seed, kWorkerStream + static_cast<std::uint64_t>(w)));
    opts.push_back(std::make_unique<optim::Optimizer<EigenD>>(cfg, gopts));
    if (precond)
      for (std::size_t gi = 0; gi < groups.size(); ++gi)
        optim::precond_rule(opts.back()->rule())
            .set_curvature(gi, curv.segment(groups[gi].offset, groups[gi].size));
  }
  std::vector<std::vector<EigenD::View>> pv(static_cast<std::size_t>(K));
  std::vector<std::vector<EigenD::CView>> gv(static_cast<std::size_t>(K));
  for (std::size_t w = 0; w < static_cast<std::size_t>(K); ++w)
    for (const auto& g : groups) {
      pv[w].emplace_back(params[w].segment(g.offset, g.size));
      gv[w].emplace_back(grads[w].segment(g.offset, g.size));
    }

  optim::InProcessCommunicator global(K);
  const int node_size = spec.node_size > 0 ? spec.node_size : K;
  NodeCommunicator node(K, node_size);
  std::vector<std::vector<BufferRef>> param_refs(static_cast<std::size_t>(K));
  std::vector<BufferRef> grad_refs;
  for (std::size_t w = 0; w < static_cast<std::size_t>(K); ++w) {
    param_refs[w].push_back(ref(params[w]));
    grad_refs.push_back(ref(grads[w]));
  }

  const optim::LrSchedule sched(spec.lr, spec.schedule);
  const double gamma = ema ? spec.ema_decay : 0.0;
  Eigen::VectorXd model = theta0, tilde = theta0;
  auto current_model = [&]() -> const Eigen::VectorXd& {
    if (K == 1) {
      model = params[0];
    } else {
      model.setZero();
      for (const auto& p : params) model += p;
      model /= static_cast<double>(K);
    }
    return model;
  };

  TrialResult r;
  const double loss0 = land->loss(theta0);
  std::vector<std::int64_t> marks;
  if (spec.record_curve) marks = log_spaced_steps(spec.max_steps);
  std::size_t next_mark = 0;
  // Evaluate after `done` updates; true when the trial ends here.
  auto evaluate = [&](std::int64_t done, double lr) {
    const Eigen::VectorXd& x = ema ? tilde : (done == 0 ? theta0 : model);
    const double loss = land->loss(x);
    const double metric = land->metric(x);
    r.final_metric = metric;
    if (next_mark < marks.size() && marks[next_mark] == done) {
      r.curve.push_back({done, lr, metric});
      ++next_mark;
    }
    if (!std::isfinite(loss) || !std::isfinite(metric) || loss > kDivergeFactor * loss0) {
      r.status = TrialStatus::kDiverged;
      return true;
    }
    if (metric < spec.target) {
      r.status = TrialStatus::kReached;
      r.steps_to_target = done;
      return true;
    }
    return false;
  };

  if (evaluate(0, sched.lr_at(0))) return r;
  for (std::int64_t t = 0; t < spec.max_steps; ++t) {
    const double lr = sched.lr_at(t);
    const std::int64_t per_worker = batches.batch_at(t) / K;
    for (std::size_t w = 0; w < static_cast<std::size_t>(K); ++w)
      land->gradient(params[w], per_worker, streams[w], grads[w]);
    if (K > 1 && spec.sync.allreduce_gradients(t)) global.allreduce_mean(grad_refs);
    for (std::size_t w = 0; w < static_cast<std::size_t>(K); ++w) opts[w]->step(pv[w], gv[w], lr);
    if (K > 1) {
      std::vector<std::vector<BufferRef>> state_refs(static_cast<std::size_t>(K));
      if (spec.sync.average_momentum)
        for (std::size_t w = 0; w < static_cast<std::size_t>(K); ++w)
          for (std::size_t gi = 0; gi < groups.size(); ++gi)
            for (auto& [name, buf] : opts[w]->rule().state(gi)) state_refs[w].push_back(ref(*buf));
      optim::apply_parameter_averaging(spec.sync, t, global, &node, param_refs, state_refs);
    }
    const std::int64_t done = t + 1;
    const bool mark = next_mark < marks.size() && marks[next_mark] == done;
    const bool eval = done % spec.eval_every == 0 || done == spec.max_steps || mark;
    if (ema || eval) current_model();
    if (ema) tilde = gamma * tilde + (1.0 - gamma) * model;
    if (eval) {
      if (evaluate(done, lr)) return r;
    } else if (!((params[0].array() * 0.0).sum() == 0.0)) {
      // = !allFinite(): x * 0 is 0 for finite x and NaN for inf / NaN, and a sum of zeros is 0;
      // Eigen vectorises this sum but not allFinite's coefficient-wise test (12% of a small
      // MLP step).
      r.status = TrialStatus::kDiverged;
      r.final_metric = std::numeric_limits<double>::quiet_NaN();
      return r;
    }
  }
  r.status = TrialStatus::kNotReached;
  return r;
}

}  // namespace batchlab::sim
