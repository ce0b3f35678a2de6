// Hyperparameters of an optimizer (plain data) and of its parameter groups.
// Validated once, at construction of the Optimizer (validate_config throws ConfigError).
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace batchlab::optim {

// Thrown for invalid hyperparameters; the CLI turns it into a one-line error and exit 2.
struct ConfigError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// One optimizer's settings. `name` selects the rule and variant from the registry
// (registry.h), e.g. "sgd", "momentum", "nesterov", "adam", "adamw", "precond",
// "lars:paper", "lars:tf", "lars:apex", "lamb:paper", "lamb:apex", "lamb:nobias", "shampoo".
// "lars" and "lamb" alone mean the paper variants.
struct OptimizerConfig {
  std::string name = "sgd";
  double momentum = 0.0;       // heavy-ball / Nesterov / LARS momentum coefficient
  double dampening = 0.0;      // PyTorch SGD dampening (momentum, lars:apex)
  double beta1 = 0.9;          // Adam/LAMB first moment
  double beta2 = 0.999;        // Adam/LAMB second moment
  double eps = 1e-8;           // Adam/LAMB denominator epsilon
  double weight_decay = 0.0;   // L2 (sgd family, adam) or decoupled (adamw, lamb) decay
  double trust_coefficient = 1e-3;  // LARS eta
  double trust_eps = 0.0;           // LARS denominator epsilon (lars:tf, lars:apex)
  bool trust_clip = false;          // lars:apex: trust <- min(trust / lr, 1)
  double lamb_phi_lower = 0.0;      // LAMB phi(||w||) = clamp(||w||, lower, upper)
  double lamb_phi_upper = std::numeric_limits<double>::infinity();
  double max_grad_norm = 0.0;       // global gradient-norm clipping before the step; 0 = off
  double precond_power = 0.5;       // precond: P = D^-p
  // Shampoo (shampoo.h). beta2 is the decay of its statistics and of the Adam graft.
  std::int64_t precond_every = 10;  // updates between inverse-root recomputations
  double precond_eps = 1e-6;        // (S + eps I)^(-1/4): the eigenvalue floor
  std::int64_t precond_warmup = 0;  // first updates that take the diagonal (graft) direction
  std::int64_t shampoo_max_dim = 1024;  // a group with a larger side is preconditioned diagonally
  std::string shampoo_graft = "adam";   // layer-wise norm of the update: "adam", "sgd", "none"
  // Heavy-ball form. false (PyTorch): v <- m v + g; w <- w - lr v.
  // true (Goyal et al. 2017 eq. 9): v <- m v + lr g; w <- w - v, where momentum_correction
  // multiplies m by lr_t / lr_{t-1} when the lr changes.
  bool lr_in_momentum = false;
  bool momentum_correction = false;
};

// Per-group (layer) options. A group is one parameter tensor (a layer's weight or bias):
// LARS/LAMB trust ratios are computed per group.
struct GroupOptions {
  std::string name;
  double lr_mult = 1.0;            // group lr = lr * lr_mult
  double weight_decay_mult = 1.0;  // group weight decay = weight_decay * weight_decay_mult
  bool exclude_from_weight_decay = false;  // bias / norm parameters
  bool exclude_from_adaptation = false;    // no LARS/LAMB trust ratio (ratio = 1)
  // The parameter's tensor shape (empty: a vector of its size). Shampoo reads it as a matrix
  // shape[0] x (product of the rest); the element-wise rules ignore it.
  std::vector<std::int64_t> shape = {};
};

// Throws ConfigError naming the bad field and value.
void validate_config(const OptimizerConfig& cfg);
void validate_groups(const std::vector<GroupOptions>& groups);

}  // namespace batchlab::optim
