// The interface every update rule implements, over a backend B (see backend_eigen.h).
//
// A rule updates one parameter group (one tensor) in place from its gradient. The Optimizer
// (optimizer.h) owns one Rule per optimizer and calls it once per group per step with that
// group's effective hyperparameters; the rule keeps per-group state (momentum, moments).
// Gradients are read-only: weight decay, clipping and trust ratios never write into them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "optim/config.h"

namespace batchlab::optim {

// Everything a rule needs to know about the current step for one group.
struct StepContext {
  double lr = 0.0;            // this group's lr at this step (schedule x lr_mult)
  double prev_lr = 0.0;       // lr used at the previous step (momentum correction); = lr at step 1
  std::int64_t step = 1;      // 1-based index of the update being taken (bias correction)
  double weight_decay = 0.0;  // this group's effective weight decay (0 when excluded)
  bool adapt = true;          // false: no layer-wise trust ratio for this group
  double grad_scale = 1.0;    // multiply the gradient by this (global-norm clipping)
};

template <class B>
class Rule {
 public:
  using Buffer = typename B::Buffer;
  using View = typename B::View;
  using CView = typename B::CView;

  virtual ~Rule() = default;
  // Update w in place. Returns the layer-wise trust ratio applied (1 for non-adaptive rules).
  virtual double step(std::size_t group, View w, CView g, const StepContext& ctx) = 0;
  // Named state buffers of a group (e.g. {"momentum", &v}); empty before its first step
  // for rules that initialise lazily. Used by sync policies (momentum averaging) and checkpoints.
  virtual std::vector<std::pair<std::string, Buffer*>> state(std::size_t group) = 0;
  // Allocate state for a group shaped like w (called once per group by the Optimizer).
  virtual void init_group(std::size_t group, CView w) = 0;
  // The groups' options, once, before init_group (Shampoo reads their shapes; others ignore them).
  virtual void set_groups(const std::vector<GroupOptions>& groups) { (void)groups; }
  virtual std::string name() const = 0;
};

}  // namespace batchlab::optim
