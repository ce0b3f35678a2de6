// Settings of one real training run (`batchlab train`), plain data, torch-free so that the CLI
// and `batchlab study` include it without LibTorch. The command-line options and the
// keys of an INI section [train] have the same names (train_options below), e.g.
//   batchlab train --dataset fashion-mnist --model mlp --batch-size 128 --lr 0.1 --steps 500
//   [train]  dataset = fashion-mnist  model = mlp  batch-size = 128  lr = 0.1  steps = 500
// Validation happens once, in validate_train_config (train_config.cpp), before any work.
#pragma once

#include <boost/program_options.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "optim/batch_schedule.h"
#include "optim/config.h"
#include "optim/io.h"
#include "optim/scaling.h"
#include "optim/sync_policy.h"

namespace batchlab::realtrain {

struct TrainConfig {
  // data and model
  std::string dataset = "fashion-mnist";
  // "": the dataset's default location (default_data_dir); for text a file or a folder.
  std::string data_dir;
  std::string model = "mlp";
  bool zero_init_residual = false;
  std::int64_t batch_size = 128;  // global: ranks x per-rank batch (the first phase's, with a batch schedule)
  // Gradient accumulation: every rank splits its B_k / ranks examples into `accumulate` equal
  // micro-batches, runs forward/backward on each and all-reduces once; the update is the
  // big-batch update (objective.h: mean losses of equal slices add up). Memory is that of a
  // micro-batch. Models with BatchNorm see micro-batch statistics (not the same function).
  std::int64_t accumulate = 1;
  std::string precision = "fp32";  // fp32 | bf16 (autocast, float32 master weights: objective.h)
  // Batch-size schedule (Smith et al. 2018; optim::BatchSchedule, as the sweep's [schedule]
  // batch_milestones / batch_factor / batch_max): the global batch is multiplied by batch_factor
  // at each milestone (EXAMPLES processed, comma-separated integers), rounded to a multiple of
  // the ranks and capped at batch_max (0 = no cap). Steps stay updates; the lr scaling rule
  // applies to batch_size (the lr does not follow the batch). Empty: a constant batch.
  std::string batch_milestones;
  double batch_factor = 1.0;
  std::int64_t batch_max = 0;
  std::string batch_lr_coupling = "none";  // none | linear | sqrt: lr x (B_k/B_0)^{1, 1/2} (optim/batch_schedule.h)
  // optimizer (optim/): name or name:variant, e.g. momentum, lars:tf, lamb:apex
  std::string optimizer = "momentum";
  double lr = 0.1;  // at batch_ref; the scaling rule maps it to batch_size
  double momentum = 0.9;
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double trust_coefficient = 1e-3;  // LARS eta
  double max_grad_norm = 0.0;       // global gradient-norm clipping; 0 = off
  // shampoo (optim/shampoo.h)
  std::int64_t precond_every = 10;
  double precond_eps = 1e-6;
  std::int64_t precond_warmup = 0;
  std::int64_t shampoo_max_dim = 1024;
  std::string shampoo_graft = "adam";
  // Gradient preconditioner in front of the rule: none | kfac (realtrain/kfac.h: K-FAC on Linear
  // and Conv2d layers; inverses every precond_every updates)
  std::string precondition = "none";
  double kfac_damping = 1e-3;
  double kfac_decay = 0.95;
  std::int64_t kfac_stats_every = 1;
  bool kfac_pi_damping = false;
  // lr = scaling(B; batch_ref, lr) x warmup(step) x decay(step)
  std::string scaling = "none";  // none | linear | sqrt | malladi
  std::int64_t batch_ref = 0;    // 0: batch_size (no scaling effect)
  std::string warmup = "none";   // none | linear | gradual
  std::int64_t warmup_steps = 0;
  double warmup_epochs = 0.0;    // alternative to warmup_steps
  std::string schedule = "constant";  // constant | step | cosine | poly | linear
  // Epochs (here and in epochs, warmup_epochs) count examples: one epoch = steps_per_epoch x
  // batch_size = floor(N / B) x B examples; a step milestone is the first update at which that
  // many examples are done (with a constant batch: round(epochs x steps_per_epoch)).
  std::string milestones;             // step decay: comma-separated epochs, e.g. "30,60,80"
  double decay_factor = 0.1;          // step decay factor
  // data parallelism
  std::string sync = "sync";  // sync | local:H | post-local:H@t0 | hier:H1:H2 | diloco:H | streaming-diloco:H:F
  bool average_momentum = false;
  // DiLoCo's outer optimizer and pseudo-gradient wire format (optim/diloco.h)
  std::string outer = "nesterov";  // nesterov | sgd
  double outer_lr = 0.7;
  double outer_momentum = 0.9;
  int outer_bits = 32;             // 32 | 16 | 8 | 4
  std::string outer_rounding = "nearest";  // nearest | stochastic
  bool outer_overlap = false;
  std::int64_t outer_overlap_steps = 1;
  std::string backend = "mpi";  // mpi | nccl
  double bucket_mb = 25.0;
  bool no_overlap = false;
  double noise_scale_ema = 0.99;
  // length and evaluation
  double epochs = 0.0;      // exactly one of epochs / steps
  std::int64_t steps = 0;
  std::int64_t eval_every = 100;  // steps; the last step is always evaluated
  double target = -1.0;     // stop at this test accuracy (steps_to_target); < 0: none
  // Stop once the evaluation loss is at or below this (nats per example, per token for a
  // language model); < 0: none. At most one of target and target_loss.
  double target_loss = -1.0;
  std::int64_t eval_examples = 0;  // evaluate on this many evenly spaced test examples; 0: all
  std::uint64_t seed = 0;
  int threads = 0;          // torch threads per rank; 0: 1 under a launcher, else all cores
  int loader_threads = 2;   // data loader threads per rank
  std::string output = "train_out";
  std::int64_t checkpoint_every = 0;  // steps; 0 = no checkpoints
  bool resume = false;      // continue from output/checkpoint
};

// The update rule and its settings: --optimizer, the rule's hyperparameters, Shampoo's and
// K-FAC's (--precondition) settings. One group, shared by `batchlab train` (train_options) and
// `batchlab bench-step` (which times the update of exactly the rule train would run), both
// validated by validate_train_config. The lr is not here: it belongs to the run's schedule.
inline boost::program_options::options_description optimizer_options(TrainConfig& c) {
  namespace po = boost::program_options;
  po::options_description d("update rule (optim/, realtrain/kfac.h)");
  d.add_options()
      ("optimizer", po::value(&c.optimizer)->default_value(c.optimizer), "update rule, name or name:variant")
      ("momentum", po::value(&c.momentum)->default_value(c.momentum), "momentum coefficient")
      ("weight-decay", po::value(&c.weight_decay)->default_value(c.weight_decay), "weight decay (not on bias / BN parameters)")
      ("beta1", po::value(&c.beta1)->default_value(c.beta1), "Adam/LAMB beta1")
      ("beta2", po::value(&c.beta2)->default_value(c.beta2), "Adam/LAMB beta2")
      ("eps", po::value(&c.eps)->default_value(c.eps), "Adam/LAMB epsilon")
      ("trust-coefficient", po::value(&c.trust_coefficient)->default_value(c.trust_coefficient), "LARS eta")
      ("max-grad-norm", po::value(&c.max_grad_norm)->default_value(c.max_grad_norm), "global gradient-norm clipping (0 = off)")
      ("precond-every", po::value(&c.precond_every)->default_value(c.precond_every), "shampoo, kfac: updates between inverse(-root) recomputations")
      ("precond-eps", po::value(&c.precond_eps)->default_value(c.precond_eps), "shampoo: eigenvalue floor of (S + eps I)^(-1/4)")
      ("precond-warmup", po::value(&c.precond_warmup)->default_value(c.precond_warmup), "shampoo: first updates with the diagonal graft step")
      ("shampoo-max-dim", po::value(&c.shampoo_max_dim)->default_value(c.shampoo_max_dim), "shampoo: groups with a longer side are preconditioned diagonally")
      ("shampoo-graft", po::value(&c.shampoo_graft)->default_value(c.shampoo_graft), "shampoo: step-length graft adam | sgd | none")
      ("precondition", po::value(&c.precondition)->default_value(c.precondition), "gradient preconditioner before the rule: none | kfac (Linear/Conv2d models: mlp, simple-cnn)")
      ("kfac-damping", po::value(&c.kfac_damping)->default_value(c.kfac_damping), "kfac: Tikhonov damping lambda (> 0)")
      ("kfac-decay", po::value(&c.kfac_decay)->default_value(c.kfac_decay), "kfac: EMA decay of the Kronecker factors")
      ("kfac-stats-every", po::value(&c.kfac_stats_every)->default_value(c.kfac_stats_every), "kfac: updates between factor statistics")
      ("kfac-pi-damping", po::bool_switch(&c.kfac_pi_damping), "kfac: split the damping by the factors' trace norms (pi)");
  return d;
}

// The options of `batchlab train` and of an INI [train] section, bound to `c`'s fields.
inline boost::program_options::options_description train_options(TrainConfig& c) {
  namespace po = boost::program_options;
  po::options_description d("batchlab train options");
  d.add_options()
      ("dataset", po::value(&c.dataset)->default_value(c.dataset), "fashion-mnist | mnist | cifar10 | cifar100 | imagenet | packed | text")
      ("data-dir", po::value(&c.data_dir)->default_value(c.data_dir), "dataset directory (text: a file or folder); empty: /usr/share/datasets/fashion-mnist for fashion-mnist, /usr/share/dictd/gcide.dict.dz for text")
      ("model", po::value(&c.model)->default_value(c.model), "mlp[:H1-H2-...] | simple-cnn | resnet8 | resnet20 | resnet32 | resnet50 | vit:PATCH-WIDTH-LAYERS-HEADS | gpt:LAYERS-WIDTH-HEADS-CONTEXT (text only)")
      ("zero-init-residual", po::bool_switch(&c.zero_init_residual), "gamma = 0 on the last BN of each residual block (Goyal et al.)")
      ("batch-size", po::value(&c.batch_size)->default_value(c.batch_size), "global batch size (all ranks)")
      ("accumulate", po::value(&c.accumulate)->default_value(c.accumulate), "micro-batches per update on every rank (gradient accumulation)")
      ("precision", po::value(&c.precision)->default_value(c.precision), "fp32 | bf16 (autocast, float32 master weights)")
      ("batch-milestones", po::value(&c.batch_milestones)->default_value(c.batch_milestones), "grow the batch at these examples processed, comma-separated")
      ("batch-factor", po::value(&c.batch_factor)->default_value(c.batch_factor), "batch multiplier at each batch milestone")
      ("batch-max", po::value(&c.batch_max)->default_value(c.batch_max), "cap on the grown batch (0 = none)")
      ("batch-lr-coupling", po::value(&c.batch_lr_coupling)->default_value(c.batch_lr_coupling), "lr follows the grown batch: none | linear | sqrt")
      ("lr", po::value(&c.lr)->default_value(c.lr), "learning rate at --batch-ref");
  d.add(optimizer_options(c));
  d.add_options()
      ("scaling", po::value(&c.scaling)->default_value(c.scaling), "none | linear | sqrt | malladi")
      ("batch-ref", po::value(&c.batch_ref)->default_value(c.batch_ref), "reference batch of --lr (0 = --batch-size)")
      ("warmup", po::value(&c.warmup)->default_value(c.warmup), "none | linear | gradual")
      ("warmup-steps", po::value(&c.warmup_steps)->default_value(c.warmup_steps), "warm-up length in steps")
      ("warmup-epochs", po::value(&c.warmup_epochs)->default_value(c.warmup_epochs), "warm-up length in epochs")
      ("schedule", po::value(&c.schedule)->default_value(c.schedule), "constant | step | cosine | poly | linear")
      ("milestones", po::value(&c.milestones)->default_value(c.milestones), "step decay epochs, comma-separated")
      ("decay-factor", po::value(&c.decay_factor)->default_value(c.decay_factor), "step decay factor")
      ("sync", po::value(&c.sync)->default_value(c.sync), "sync | local:H | post-local:H@t0 | hier:H1:H2 | diloco:H | streaming-diloco:H:F")
      ("outer", po::value(&c.outer)->default_value(c.outer), "DiLoCo outer optimizer: nesterov | sgd")
      ("outer-lr", po::value(&c.outer_lr)->default_value(c.outer_lr), "DiLoCo outer lr")
      ("outer-momentum", po::value(&c.outer_momentum)->default_value(c.outer_momentum), "DiLoCo outer momentum")
      ("outer-bits", po::value(&c.outer_bits)->default_value(c.outer_bits), "DiLoCo pseudo-gradient bits: 32 | 16 | 8 | 4")
      ("outer-rounding", po::value(&c.outer_rounding)->default_value(c.outer_rounding), "DiLoCo quantisation rounding: nearest | stochastic")
      ("outer-overlap", po::bool_switch(&c.outer_overlap), "DiLoCo: apply an outer result --outer-overlap-steps updates after it is sent")
      ("outer-overlap-steps", po::value(&c.outer_overlap_steps)->default_value(c.outer_overlap_steps), "DiLoCo: updates a fragment's communication overlaps")
      ("average-momentum", po::bool_switch(&c.average_momentum), "average momentum buffers with parameters")
      ("backend", po::value(&c.backend)->default_value(c.backend), "mpi | nccl")
      ("bucket-mb", po::value(&c.bucket_mb)->default_value(c.bucket_mb), "gradient all-reduce bucket size (MiB)")
      ("no-overlap", po::bool_switch(&c.no_overlap), "all-reduce after backward instead of during it")
      ("noise-scale-ema", po::value(&c.noise_scale_ema)->default_value(c.noise_scale_ema), "EMA decay of the noise-scale estimates")
      ("epochs", po::value(&c.epochs)->default_value(c.epochs), "training length in epochs")
      ("steps", po::value(&c.steps)->default_value(c.steps), "training length in steps")
      ("eval-every", po::value(&c.eval_every)->default_value(c.eval_every), "evaluate every this many steps")
      ("target", po::value(&c.target)->default_value(c.target), "stop at this test accuracy (< 0: none)")
      ("target-loss", po::value(&c.target_loss)->default_value(c.target_loss), "stop once the test loss (nats per token for a language model) is at or below this (< 0: none)")
      ("eval-examples", po::value(&c.eval_examples)->default_value(c.eval_examples), "evaluate on this many evenly spaced test examples (0: all)")
      ("seed", po::value(&c.seed)->default_value(c.seed), "seed of initialisation and data order")
      ("threads", po::value(&c.threads)->default_value(c.threads), "torch threads per rank (0: auto)")
      ("loader-threads", po::value(&c.loader_threads)->default_value(c.loader_threads), "data loader threads per rank")
      ("output", po::value(&c.output)->default_value(c.output), "output directory")
      ("checkpoint-every", po::value(&c.checkpoint_every)->default_value(c.checkpoint_every), "checkpoint every this many steps (0 = never)")
      ("resume", po::bool_switch(&c.resume), "continue from the checkpoint in --output");
  return d;
}

// --batch-milestones as optim::BatchScheduleConfig::milestones: examples processed, whole
// numbers > 0, strictly increasing; "" = none. Throws optim::ConfigError naming
// train.batch-milestones. (`batchlab study` uses it to count a trial's examples.)
// (Inline, like train_options: `batchlab study` compiles it into the torch-free study engine.)
inline std::vector<std::int64_t> parse_batch_milestones(const std::string& text) {
  return optim::parse_count_list("train.batch-milestones", text, /*strictly_increasing=*/true);
}

// The lr scaling rule of a run: --scaling with reference batch --batch-ref (0: the run's own
// --batch-size, i.e. the lr as given). lr = rule.lr(batch-size, lr) is the run's base lr (and
// for malladi, rule.apply gives its betas and eps). The one place this is decided: the trainer
// applies it, and `batchlab study` records every trial's lr with it. Throws optim::ConfigError
// for an unknown --scaling.
inline optim::ScalingRule lr_scaling_rule(const TrainConfig& c) {
  optim::ScalingRule rule;
  rule.kind = optim::parse_scaling(c.scaling);
  rule.batch_ref = static_cast<double>(c.batch_ref > 0 ? c.batch_ref : c.batch_size);
  return rule;
}

// The rule's settings as optim/ takes them (optim::OptimizerConfig), the one translation of
// --optimizer and its options: the trainer passes the betas and eps after its scaling rule
// (malladi changes them), bench-step the configured ones. Not validated here (optim::validate_config).
optim::OptimizerConfig optimizer_config(const TrainConfig& c, double beta1, double beta2, double eps);

// The run's sync policy: --sync with --average-momentum and the --outer-* settings. Throws
// optim::ConfigError naming the bad value.
optim::SyncPolicy sync_policy(const TrainConfig& c);

// --milestones: epochs, comma-separated numbers >= 0; "" = none. Throws optim::ConfigError
// naming train.milestones. (Both are optim::parse_*_list, the one comma-list reader.)
std::vector<double> parse_epoch_milestones(const std::string& text);

// The global batch of every update (optim::BatchSchedule, the sweep's implementation): base
// batch c.batch_size, phases rounded to a multiple of `world` and capped at batch-max. Throws
// optim::ConfigError naming train.batch-* for bad values.
optim::BatchSchedule make_batch_schedule(const TrainConfig& c, int world);

// Where the data is: c.data_dir, or when that is empty the dataset's default location
// (fashion-mnist: /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist; text:
// /usr/share/dictd/gcide.dict.dz, Debian's dict-gcide). Throws optim::ConfigError naming
// train.data-dir for a dataset without a default.
std::string default_data_dir(const std::string& dataset);
std::string resolved_data_dir(const TrainConfig& c);

// Throws optim::ConfigError naming the key and the value. `world` = number of ranks.
// Checks names and ranges, that a gpt model trains on text and only a gpt model does, and that
// data-dir exists (a directory; for text a file or a directory) unless !check_data_dir
// (`batchlab study --check` of a config for another machine); files are checked when the
// dataset is opened.
void validate_train_config(const TrainConfig& c, int world, bool check_data_dir = true);

}  // namespace batchlab::realtrain
