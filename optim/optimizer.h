// Optimizer<B>: one update rule applied to a list of parameter groups, with per-group options
// (lr multiplier, weight decay, exclusion from decay and from layer-wise adaptation), optional
// global gradient-norm clipping, and the step counter (= number of updates taken).
//
// The lr is an argument of step(): schedules are pure functions lr_at(step) (schedule.h) and
// are composed by the caller, so nothing here mutates a global config.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "optim/config.h"
#include "optim/registry.h"
#include "optim/rule.h"

namespace batchlab::optim {

template <class B>
class Optimizer {
 public:
  using View = typename B::View;
  using CView = typename B::CView;
  using Buffer = typename B::Buffer;

  Optimizer(OptimizerConfig cfg, std::vector<GroupOptions> groups)
      : cfg_(std::move(cfg)), groups_(std::move(groups)) {
    validate_config(cfg_);
    validate_groups(groups_);
    rule_ = make_rule<B>(cfg_);
    rule_->set_groups(groups_);
    trust_.assign(groups_.size(), 1.0);
  }

  // One update. params[i] and grads[i] are group i. lr is the schedule's value at this step.
  void step(const std::vector<View>& params, const std::vector<CView>& grads, double lr) {
    if (params.size() != groups_.size() || grads.size() != groups_.size())
      throw std::invalid_argument("Optimizer::step: expected " + std::to_string(groups_.size()) +
                                  " groups, got " + std::to_string(params.size()) + " params / " +
                                  std::to_string(grads.size()) + " grads");
    if (!(std::isfinite(lr) && lr >= 0.0))
      throw ConfigError("Optimizer::step: lr = " + std::to_string(lr) + " at update " +
                        std::to_string(steps_ + 1) + ": must be finite and >= 0");
    if (!initialized_) {
      for (std::size_t i = 0; i < groups_.size(); ++i) rule_->init_group(i, params[i]);
      initialized_ = true;
    }
    double grad_scale = 1.0;
    if (cfg_.max_grad_norm > 0.0) {
      double sq = 0.0;
      for (const auto& g : grads) sq += B::squared_norm(g);
      last_grad_norm_ = std::sqrt(sq);
      if (last_grad_norm_ > cfg_.max_grad_norm) grad_scale = cfg_.max_grad_norm / last_grad_norm_;
    }
    ++steps_;
    for (std::size_t i = 0; i < groups_.size(); ++i) {
      const GroupOptions& go = groups_[i];
      StepContext c;
      c.lr = lr * go.lr_mult;
      c.prev_lr = (steps_ == 1 ? lr : prev_lr_) * go.lr_mult;
      c.step = steps_;
      c.weight_decay = go.exclude_from_weight_decay ? 0.0 : cfg_.weight_decay * go.weight_decay_mult;
      c.adapt = !go.exclude_from_adaptation;
      c.grad_scale = grad_scale;
      trust_[i] = rule_->step(i, params[i], grads[i], c);
    }
    prev_lr_ = lr;
  }

  std::int64_t steps() const { return steps_; }
  double prev_lr() const { return prev_lr_; }
  // Restore the counters from a checkpoint (state buffers are restored through rule().state()).
  void restore_counters(std::int64_t steps, double prev_lr) {
    steps_ = steps;
    prev_lr_ = prev_lr;
  }
  // Allocate state now (for checkpoint restore before the first step).
  void init_state(const std::vector<CView>& params) {
    for (std::size_t i = 0; i < groups_.size(); ++i) rule_->init_group(i, params[i]);
    initialized_ = true;
  }
  const std::vector<double>& trust_ratios() const { return trust_; }
  double last_grad_norm() const { return last_grad_norm_; }
  Rule<B>& rule() { return *rule_; }
  const OptimizerConfig& config() const { return cfg_; }
  const std::vector<GroupOptions>& groups() const { return groups_; }

 private:
  OptimizerConfig cfg_;
  std::vector<GroupOptions> groups_;
  std::unique_ptr<Rule<B>> rule_;
  std::vector<double> trust_;
  std::int64_t steps_ = 0;
  double prev_lr_ = 0.0;
  double last_grad_norm_ = 0.0;
  bool initialized_ = false;
};

}  // namespace batchlab::optim
