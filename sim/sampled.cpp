#include "sim/sampled.h"

#include <cmath>
#include <limits>
#include <memory>
#include <span>

#include "optim/backend_eigen.h"
#include "optim/batch_schedule.h"
#include "optim/communicator.h"
#include "optim/diloco.h"
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

// The K simulated data-parallel workers of a trial: each worker's parameters, gradient, batch
// stream (one RNG stream per worker) and optimizer, and the communicators that average them
// under the trial's sync policy. Holds views into its own vectors: not copyable.
class Workers {
 public:
  Workers(const TrialSpec& spec, const Landscape& land, const optim::OptimizerConfig& cfg,
          const Eigen::VectorXd& theta0)
      : spec_(spec), land_(land), K_(spec.workers), groups_(land.groups()),
        params_(static_cast<std::size_t>(K_), theta0),
        grads_(static_cast<std::size_t>(K_), Eigen::VectorXd::Zero(land.dim())),
        pv_(static_cast<std::size_t>(K_)), gv_(static_cast<std::size_t>(K_)), global_(K_),
        node_(K_, spec.node_size > 0 ? spec.node_size : K_), param_refs_(static_cast<std::size_t>(K_)) {
    std::vector<optim::GroupOptions> gopts;
    for (const auto& g : groups_) gopts.push_back({g.name, 1.0, 1.0, g.is_bias, g.is_bias, g.shape});
    const bool precond = optim::canonical_rule_name(cfg.name) == "precond";
    const Eigen::VectorXd curv = precond ? land.curvature_diagonal() : Eigen::VectorXd();
    for (int w = 0; w < K_; ++w) {
      streams_.emplace_back(make_rng(spec.seed, kWorkerStream + static_cast<std::uint64_t>(w)));
      opts_.push_back(std::make_unique<optim::Optimizer<EigenD>>(cfg, gopts));
      if (precond)
        for (std::size_t gi = 0; gi < groups_.size(); ++gi)
          optim::precond_rule(opts_.back()->rule())
              .set_curvature(gi, curv.segment(groups_[gi].offset, groups_[gi].size));
    }
    for (std::size_t w = 0; w < static_cast<std::size_t>(K_); ++w) {
      for (const auto& g : groups_) {
        pv_[w].emplace_back(params_[w].segment(g.offset, g.size));
        gv_[w].emplace_back(grads_[w].segment(g.offset, g.size));
      }
      param_refs_[w].push_back(ref(params_[w]));
      grad_refs_.push_back(ref(grads_[w]));
    }
    if (K_ > 1 && spec.sync.outer_steps())
      diloco_ = std::make_unique<optim::DilocoSync>(spec.sync, param_refs_, 0, spec.seed);
  }
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // Update t (0-based) at this lr: every worker's gradient on its own batch of `per_worker`
  // examples, the sync policy's gradient all-reduce, each optimizer's step, then its parameter
  // (and optionally momentum) averaging.
  void step(std::int64_t t, double lr, std::int64_t per_worker) {
    for (std::size_t w = 0; w < static_cast<std::size_t>(K_); ++w)
      land_.gradient(params_[w], per_worker, streams_[w], grads_[w]);
    if (K_ > 1 && spec_.sync.allreduce_gradients(t)) global_.allreduce_mean(grad_refs_);
    for (std::size_t w = 0; w < static_cast<std::size_t>(K_); ++w) opts_[w]->step(pv_[w], gv_[w], lr);
    if (diloco_) {
      diloco_->after_update(t, global_);
    } else if (K_ > 1) {
      if (state_count_ < 0) {  // the rules allocate their state at the first step
        state_count_ = 0;
        for (std::size_t gi = 0; gi < groups_.size(); ++gi)
          for (auto& [name, buf] : opts_[0]->rule().state(gi)) state_count_ += buf->size();
      }
      comm_bytes_ += spec_.sync.bytes_sent(t, land_.dim(), state_count_);
      std::vector<std::vector<BufferRef>> state_refs(static_cast<std::size_t>(K_));
      if (spec_.sync.average_momentum)
        for (std::size_t w = 0; w < static_cast<std::size_t>(K_); ++w)
          for (std::size_t gi = 0; gi < groups_.size(); ++gi)
            for (auto& [name, buf] : opts_[w]->rule().state(gi)) state_refs[w].push_back(ref(*buf));
      optim::apply_parameter_averaging(spec_.sync, t, global_, &node_, param_refs_, state_refs);
    }
  }

  // Payload bytes one worker sent so far (0 with one worker).
  std::int64_t comm_bytes() const { return diloco_ ? diloco_->stats().bytes_sent : comm_bytes_; }

  // The model the trial evaluates: the workers' mean (worker 0's parameters when K = 1), into `out`.
  void average(Eigen::VectorXd& out) const {
    if (K_ == 1) {
      out = params_[0];
    } else {
      out.setZero();
      for (const auto& p : params_) out += p;
      out /= static_cast<double>(K_);
    }
  }

  // No inf or NaN in worker 0's parameters.
  bool finite() const {
    // x * 0 is 0 for finite x and NaN for inf / NaN, and a sum of zeros is 0; Eigen vectorises
    // this sum but not allFinite's coefficient-wise test (12% of a small MLP step).
    return (params_[0].array() * 0.0).sum() == 0.0;
  }

 private:
  const TrialSpec& spec_;
  const Landscape& land_;
  const int K_;
  const std::vector<Group>& groups_;
  std::vector<Eigen::VectorXd> params_, grads_;
  std::vector<BatchStream> streams_;
  std::vector<std::unique_ptr<optim::Optimizer<EigenD>>> opts_;
  std::vector<std::vector<EigenD::View>> pv_;
  std::vector<std::vector<EigenD::CView>> gv_;
  optim::InProcessCommunicator global_;
  NodeCommunicator node_;
  std::vector<std::vector<BufferRef>> param_refs_;
  std::vector<BufferRef> grad_refs_;
  std::unique_ptr<optim::DilocoSync> diloco_;
  std::int64_t comm_bytes_ = 0, state_count_ = -1;
};

}  // namespace

namespace {

// The targets not crossed when the trial ends take its ending (as a trial with that one target
// would have ended at the same step with the same metric).
void end_targets(TrialResult& r, TrialStatus status, double metric) {
  for (auto& t : r.per_target)
    if (t.status != TrialStatus::kReached) t = {status, -1, metric};
}

}  // namespace

TrialResult run_sampled(const TrialSpec& spec) {
  const auto land = make_landscape(spec.landscape);
  const int K = spec.workers;
  // Global batch of update t (constant unless a batch schedule grows it), split over K workers.
  const optim::BatchSchedule batches(spec.batch_size, spec.batch_schedule, K);

  optim::OptimizerConfig cfg = spec.optimizer;
  const bool ema = cfg.name == "ema";
  if (ema) cfg.name = cfg.momentum != 0.0 ? "momentum" : "sgd";
  Rng init_rng = make_rng(spec.seed, kInitStream);
  const Eigen::VectorXd theta0 = land->initial_point(init_rng);
  Workers workers(spec, *land, cfg, theta0);

  const optim::LrSchedule sched(spec.lr, spec.schedule);
  const double gamma = ema ? spec.ema_decay : 0.0;
  Eigen::VectorXd model = theta0, tilde = theta0;

  TrialResult r;
  // Several targets: each one's first crossing at an evaluation, the trial going on to the lowest.
  r.per_target.resize(spec.targets.size());
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
      end_targets(r, TrialStatus::kDiverged, metric);
      return true;
    }
    for (std::size_t k = 0; k < spec.targets.size(); ++k)
      if (r.per_target[k].status != TrialStatus::kReached && metric < spec.targets[k])
        r.per_target[k] = {TrialStatus::kReached, done, metric};
    r.comm_bytes = workers.comm_bytes();
    if (metric < spec.target) {
      r.status = TrialStatus::kReached;
      r.steps_to_target = done;
      return true;
    }
    return false;
  };

  if (evaluate(0, sched.lr_at(0))) return r;
  for (std::int64_t t = 0; t < spec.max_steps; ++t) {
    const double lr = sched.lr_at(t) * batches.lr_factor_at(t);
    workers.step(t, lr, batches.batch_at(t) / K);
    const std::int64_t done = t + 1;
    const bool mark = next_mark < marks.size() && marks[next_mark] == done;
    const bool eval = done % spec.eval_every == 0 || done == spec.max_steps || mark;
    if (ema || eval) workers.average(model);
    if (ema) tilde = gamma * tilde + (1.0 - gamma) * model;
    if (eval) {
      if (evaluate(done, lr)) return r;
    } else if (!workers.finite()) {
      r.status = TrialStatus::kDiverged;
      r.final_metric = std::numeric_limits<double>::quiet_NaN();
      end_targets(r, TrialStatus::kDiverged, r.final_metric);
      return r;
    }
  }
  r.status = TrialStatus::kNotReached;
  end_targets(r, TrialStatus::kNotReached, r.final_metric);
  return r;
}

}  // namespace batchlab::sim
