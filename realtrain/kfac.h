// K-FAC: Kronecker-factored approximate curvature for the trainer's Linear and Conv2d layers,
// a gradient preconditioner in front of the configured update rule.
//
// Martens and Grosse 2015, "Optimizing Neural Networks with Kronecker-factored Approximate
// Curvature" (ICML), for fully connected layers; Grosse and Martens 2016, "A Kronecker-factored
// approximate Fisher matrix for convolution layers" (KFC, ICML), for convolutions.
//
// A layer's weight and bias form one matrix W~ = [W b] (out x (d + 1)); its gradient (of the mean
// loss) is  grad W~ = E_n[ g_n a~_n' ]  with a~ = [a; 1] the layer input with a 1 appended (bias)
// and g_n = d loss_n / d s_n the derivative of example n's loss by the layer output s. The
// Fisher block of the layer is approximated by a Kronecker product F ~ A (x) G,
//   fully connected:  A = E_n[ a~_n a~_n' ],                 G = E_n[ g_n g_n' ]
//   convolution (KFC: spatially homogeneous, spatially uncorrelated derivatives; a~_{n,t} the
//   input patch at output position t of T, the im2col column, with a 1 appended):
//                     A = E_n[ sum_t a~_{n,t} a~_{n,t}' ],    G = E_n[ 1/T sum_t g_{n,t} g_{n,t}' ]
// and the gradient is replaced by the preconditioned one
//   grad W~  <-  (G + lambda_G I)^-1  grad W~  (A + lambda_A I)^-1                          (1)
// (F^-1 vec(grad) = vec(G^-1 grad A^-1) for F = A (x) G). Factor statistics are kept as
// exponential moving averages (Martens & Grosse section 5):
//   A <- eps_k A + (1 - eps_k) A_batch,   eps_k = min(1 - 1/k, decay)   at the k-th update
// so the first update copies the batch factor. Tikhonov damping (section 6.3) splits lambda
// between the factors: lambda_A = pi sqrt(lambda), lambda_G = sqrt(lambda) / pi, with pi = 1, or
// with pi-damping (their eq. 12, the trace norm) pi = sqrt( (tr A / dim A) / (tr G / dim G) ).
// The damped inverses of (1) are recomputed every `update_every` updates (Cholesky in double);
// factor statistics are gathered every `stats_every` updates.
//
// Which g: the derivative of the training loss itself (the "empirical Fisher", as the distributed
// K-FAC of Osawa et al. 2019 and Pauloski et al. 2020 use: it comes with the training backward at
// no extra pass); Martens & Grosse sample the targets from the model's predictive distribution
// instead (not implemented). On a layer whose loss has output Hessian I (least squares) and with
// G = I, (1) is the Gauss-Newton step (tests/realtrain/test_kfac.cpp checks that).
//
// Across ranks the batch factors A_batch, G_batch are all-reduced (mean) before the EMA, so every
// rank holds the factors of the union batch and preconditions its all-reduced gradient identically.
//
// How it composes: the trainer replaces each covered layer's .grad() by (1), then the configured
// rule steps as usual on those gradients: the lr schedule, scaling rule, parameter groups,
// global-norm clipping (of the preconditioned gradient) and the momentum of that rule all apply.
// --optimizer momentum gives Martens & Grosse's setting (v <- m v + F^-1 g; w <- w - lr v). Weight
// decay is added by the rule after preconditioning (it is not preconditioned).
//
// Capture: models report each Linear / Conv2d forward to a LayerObserver (models.h); K-FAC keeps
// the input statistic at once (no activation is stored) and hooks the output tensor, whose
// gradient arrives during backward. A model with any other parameterised module (BatchNorm,
// LayerNorm, Embedding, ...), or that does not report its layers, is refused with one line.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "optim/communicator.h"
#include "realtrain/models.h"

namespace batchlab::realtrain {

struct KfacConfig {
  double damping = 1e-3;          // lambda, > 0
  double decay = 0.95;            // factor EMA decay, in [0, 1)
  std::int64_t update_every = 10;  // updates between inverse recomputations, >= 1
  std::int64_t stats_every = 1;    // updates between factor statistics, >= 1
  bool pi_damping = false;
};

class Kfac final : public LayerObserver {
 public:
  // Covers every Linear / Conv2d of `model` and installs itself as its layer observer. Throws
  // optim::ConfigError naming the first parameterised module it does not support, or a model
  // that does not report its layers. cfg is validated by validate_train_config (train.kfac-*);
  // out-of-range values here throw std::invalid_argument.
  Kfac(Model& model, const std::string& model_name, KfacConfig cfg);
  ~Kfac() override;
  Kfac(const Kfac&) = delete;
  Kfac& operator=(const Kfac&) = delete;

  // Before the forward passes of update `step` (0-based): whether statistics are gathered this
  // update (step % stats_every == 0), and over how many examples this rank's loss is a mean (the
  // output gradient of the mean loss is g_n / examples).
  void begin_update(std::int64_t step, std::int64_t examples);
  // After the backward passes of that update, before the rule steps: the batch factors (mean over
  // ranks through `comm` when given), their EMA, the damped inverses when due, then each covered
  // layer's .grad() replaced by (1).
  void precondition(std::int64_t step, optim::Communicator* comm);

  // The factors of the last statistics (for tests): layer i's A and G (EMA included).
  std::size_t layer_count() const;
  const std::string& layer_name(std::size_t i) const;
  torch::Tensor factor_a(std::size_t i) const;
  torch::Tensor factor_g(std::size_t i) const;

  // Everything precondition() reads besides the gradients, for checkpoints (restored by copy_).
  std::vector<torch::Tensor> state();

  void observe(torch::nn::Module& layer, const torch::Tensor& input, const torch::Tensor& output) override;

  struct Layer;

 private:
  void update_factors(optim::Communicator* comm);
  void update_inverses();
  Model& model_;
  KfacConfig cfg_;
  std::vector<std::shared_ptr<Layer>> layers_;
  bool capturing_ = false;
  double grad_scale_ = 1.0;
  torch::Tensor factor_updates_;  // int64 scalar: k of the EMA (0: none yet)
};

}  // namespace batchlab::realtrain
