// Validation of `batchlab train`'s settings (train_config.h): torch-free, so that `batchlab study`
// checks every trial with the trainer's own rules without loading LibTorch.
#include "realtrain/train_config.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <filesystem>

#include "optim/io.h"
#include "optim/registry.h"
#include "optim/scaling.h"
#include "optim/schedule.h"
#include "optim/sync_policy.h"
#include "realtrain/model_names.h"

namespace batchlab::realtrain {

using optim::ConfigError;

std::vector<double> parse_epoch_milestones(const std::string& text) {
  return optim::parse_nonnegative_list("train.milestones", text);
}

namespace {

void require(bool ok, const std::string& key, const std::string& value, const std::string& why) {
  if (!ok) throw ConfigError("train." + key + " = " + value + ": " + why);
}

}  // namespace

optim::SyncPolicy sync_policy(const TrainConfig& c) {
  optim::OuterConfig o;
  require(c.outer == "nesterov" || c.outer == "sgd", "outer", c.outer, "unknown (nesterov, sgd)");
  require(c.outer_rounding == "nearest" || c.outer_rounding == "stochastic", "outer-rounding", c.outer_rounding,
          "unknown (nearest, stochastic)");
  o.rule = optim::OuterConfig::parse_rule(c.outer);
  o.lr = c.outer_lr;
  o.momentum = c.outer_momentum;
  o.bits = c.outer_bits;
  o.rounding = optim::OuterConfig::parse_rounding(c.outer_rounding);
  o.overlap = c.outer_overlap;
  o.overlap_steps = c.outer_overlap_steps;
  try {
    return optim::SyncPolicy::parse(c.sync, c.average_momentum, o);
  } catch (const ConfigError& e) {
    throw ConfigError("train.sync = " + c.sync + ": " + e.what());
  }
}

// The global batch of every update, from optim::BatchSchedule (the sweep's implementation):
// base batch c.batch_size, phases rounded to a multiple of `world` and capped at batch-max.
// Throws ConfigError naming train.batch-* for bad values.
optim::BatchSchedule make_batch_schedule(const TrainConfig& c, int world) {
  optim::BatchScheduleConfig b;
  b.milestones = parse_batch_milestones(c.batch_milestones);
  b.factor = c.batch_factor;
  b.max_batch = c.batch_max;
  require(c.batch_lr_coupling == "none" || c.batch_lr_coupling == "linear" || c.batch_lr_coupling == "sqrt",
          "batch-lr-coupling", c.batch_lr_coupling, "unknown (none, linear, sqrt)");
  b.lr_coupling = optim::parse_lr_coupling(c.batch_lr_coupling);
  require(std::isfinite(c.batch_factor) && c.batch_factor > 0.0, "batch-factor",
          std::to_string(c.batch_factor), "must be > 0");
  require(c.batch_max >= 0, "batch-max", std::to_string(c.batch_max), "must be >= 0 (0 = no cap)");
  if (b.milestones.empty()) {
    require(c.batch_factor == 1.0, "batch-factor", std::to_string(c.batch_factor),
            "has no effect without --batch-milestones");
    require(c.batch_max == 0, "batch-max", std::to_string(c.batch_max),
            "has no effect without --batch-milestones");
    require(c.batch_lr_coupling == "none", "batch-lr-coupling", c.batch_lr_coupling,
            "has no effect without --batch-milestones");
  }
  require(c.batch_max == 0 || c.batch_max >= c.batch_size, "batch-max", std::to_string(c.batch_max),
          "is below --batch-size " + std::to_string(c.batch_size));
  // The cap is not rounded (BatchSchedule keeps it as given), so it must split over the ranks.
  require(c.batch_max == 0 || c.batch_max % world == 0, "batch-max", std::to_string(c.batch_max),
          "global batch must be divisible by the number of ranks (" + std::to_string(world) + ")");
  try {
    optim::BatchSchedule s(c.batch_size, b, world);
    for (const auto& p : s.phases())
      require(p.batch % world == 0, "batch-max", std::to_string(c.batch_max),
              "phase batch " + std::to_string(p.batch) + " is not divisible by the number of ranks (" +
                  std::to_string(world) + ")");
    return s;
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    if (what.starts_with("train.")) throw;
    throw ConfigError("train.batch-milestones / batch-factor / batch-max: " + what);
  }
}

std::string default_data_dir(const std::string& dataset) {
  if (dataset == "fashion-mnist") return "/usr/share/datasets/fashion-mnist";
  if (dataset == "text") return "/usr/share/dictd/gcide.dict.dz";
  throw ConfigError("train.data-dir = '': dataset " + dataset + " has no default location, give --data-dir");
}

std::string resolved_data_dir(const TrainConfig& c) {
  return c.data_dir.empty() ? default_data_dir(c.dataset) : c.data_dir;
}

optim::OptimizerConfig optimizer_config(const TrainConfig& c, double beta1, double beta2, double eps) {
  optim::OptimizerConfig o;
  o.name = c.optimizer;
  o.momentum = c.momentum;
  o.beta1 = beta1;
  o.beta2 = beta2;
  o.eps = eps;
  o.weight_decay = c.weight_decay;
  o.trust_coefficient = c.trust_coefficient;
  o.max_grad_norm = c.max_grad_norm;
  o.precond_every = c.precond_every;
  o.precond_eps = c.precond_eps;
  o.precond_warmup = c.precond_warmup;
  o.shampoo_max_dim = c.shampoo_max_dim;
  o.shampoo_graft = c.shampoo_graft;
  return o;
}

namespace {

const char* const kDatasets[] = {"fashion-mnist", "mnist", "cifar10", "cifar100", "imagenet", "packed", "text"};

// The dataset, the model kind that fits it, and where the data is.
void validate_data(const TrainConfig& c, bool check_data_dir) {
  if (std::find(std::begin(kDatasets), std::end(kDatasets), c.dataset) == std::end(kDatasets)) {
    std::string known;
    for (const char* d : kDatasets) known += (known.empty() ? "" : ", ") + std::string(d);
    throw ConfigError("train.dataset = " + c.dataset + ": unknown (known: " + known + ")");
  }
  validate_model_name(c.model);
  if (is_language_model(c.model) && c.dataset != "text")
    throw ConfigError("train.model = " + c.model + ": a language model trains on --dataset text, not " + c.dataset);
  if (!is_language_model(c.model) && c.dataset == "text")
    throw ConfigError("train.dataset = text: needs a language model (--model gpt:LAYERS-WIDTH-HEADS-CONTEXT), not " +
                      c.model);
  const std::string dir = resolved_data_dir(c);
  if (!check_data_dir) return;
  if (c.dataset == "text") {
    if (!std::filesystem::exists(dir))
      throw ConfigError("train.data-dir = " + dir + ": no such file or directory (a text file or a folder of them)");
  } else if (!std::filesystem::is_directory(dir)) {
    throw ConfigError("train.data-dir = " + dir + ": directory does not exist");
  }
}

// Every rank's share of every batch phase splits into `accumulate` equal micro-batches.
void validate_accumulation(const TrainConfig& c, int world) {
  require(c.accumulate >= 1, "accumulate", std::to_string(c.accumulate), "must be >= 1");
  const optim::BatchSchedule schedule = make_batch_schedule(c, world);
  for (const auto& p : schedule.phases())
    require((p.batch / world) % c.accumulate == 0, "accumulate", std::to_string(c.accumulate),
            "does not divide the per-rank batch " + std::to_string(p.batch / world) + " (global batch " +
                std::to_string(p.batch) + " over " + std::to_string(world) + " ranks)");
}

// --precondition and K-FAC's settings (realtrain/kfac.h); its inverse interval is --precond-every,
// checked with the optimizer's settings. Which models K-FAC covers is checked when it is built.
void validate_preconditioner(const TrainConfig& c) {
  require(c.precondition == "none" || c.precondition == "kfac", "precondition", c.precondition,
          "unknown (none, kfac)");
  if (c.precondition != "kfac") return;
  require(std::isfinite(c.kfac_damping) && c.kfac_damping > 0.0, "kfac-damping",
          optim::format_number(c.kfac_damping), "must be > 0");
  require(c.kfac_decay >= 0.0 && c.kfac_decay < 1.0, "kfac-decay", optim::format_number(c.kfac_decay),
          "must be in [0, 1)");
  require(c.kfac_stats_every >= 1, "kfac-stats-every", std::to_string(c.kfac_stats_every), "must be >= 1");
  require(c.precond_every >= 1, "precond-every", std::to_string(c.precond_every), "must be >= 1");
}

}  // namespace

void validate_train_config(const TrainConfig& c, int world, bool check_data_dir) {
  require(c.batch_size > 0, "batch-size", std::to_string(c.batch_size), "must be > 0");
  require(world > 0 && c.batch_size % world == 0, "batch-size", std::to_string(c.batch_size),
          "global batch must be divisible by the number of ranks (" + std::to_string(world) + ")");
  validate_data(c, check_data_dir);
  (void)make_batch_schedule(c, world);
  validate_accumulation(c, world);
  {
    const auto names = optim::rule_names();
    const std::string canon = optim::canonical_rule_name(c.optimizer);
    if (std::find(names.begin(), names.end(), canon) == names.end()) {
      std::string known;
      for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
      throw ConfigError("train.optimizer = " + c.optimizer + ": unknown (known: " + known + ")");
    }
    if (canon == "precond")
      throw ConfigError("train.optimizer = precond: needs a curvature diagonal, which a real model "
                        "does not provide (use it in `batchlab sweep`)");
  }
  require(std::isfinite(c.lr) && c.lr > 0.0, "lr", std::to_string(c.lr), "must be > 0");
  validate_preconditioner(c);
  optim::parse_scaling(c.scaling);
  optim::parse_warmup(c.warmup);
  optim::parse_decay(c.schedule);
  sync_policy(c);
  parse_epoch_milestones(c.milestones);
  require(c.batch_ref >= 0, "batch-ref", std::to_string(c.batch_ref), "must be >= 0");
  require(c.warmup_steps >= 0, "warmup-steps", std::to_string(c.warmup_steps), "must be >= 0");
  require(c.warmup_epochs >= 0.0, "warmup-epochs", std::to_string(c.warmup_epochs), "must be >= 0");
  require(c.warmup_steps == 0 || c.warmup_epochs == 0.0, "warmup-epochs",
          std::to_string(c.warmup_epochs), "give --warmup-steps or --warmup-epochs, not both");
  require((c.epochs > 0.0) != (c.steps > 0), "steps", std::to_string(c.steps),
          "give exactly one of --epochs and --steps (> 0)");
  require(c.epochs >= 0.0, "epochs", std::to_string(c.epochs), "must be >= 0");
  require(c.eval_every > 0, "eval-every", std::to_string(c.eval_every), "must be > 0");
  require(c.target < 0.0 || c.target <= 1.0, "target", std::to_string(c.target),
          "is a test accuracy in (0, 1] (or < 0 for none)");
  require(std::isfinite(c.target_loss) && c.target_loss != 0.0, "target-loss", std::to_string(c.target_loss),
          "is a test loss > 0 (or < 0 for none)");
  require(c.target_loss < 0.0 || c.target <= 0.0, "target-loss", std::to_string(c.target_loss),
          "give --target (accuracy) or --target-loss, not both");
  require(c.eval_examples >= 0, "eval-examples", std::to_string(c.eval_examples), "must be >= 0 (0 = all)");
  require(c.precision == "fp32" || c.precision == "bf16", "precision", c.precision, "must be fp32 or bf16");
  require(c.threads >= 0, "threads", std::to_string(c.threads), "must be >= 0");
  require(c.loader_threads > 0, "loader-threads", std::to_string(c.loader_threads), "must be > 0");
  require(c.backend == "mpi" || c.backend == "nccl", "backend", c.backend, "must be mpi or nccl");
  require(c.bucket_mb > 0.0, "bucket-mb", std::to_string(c.bucket_mb), "must be > 0");
  require(c.noise_scale_ema >= 0.0 && c.noise_scale_ema < 1.0, "noise-scale-ema",
          std::to_string(c.noise_scale_ema), "must be in [0, 1)");
  require(c.checkpoint_every >= 0, "checkpoint-every", std::to_string(c.checkpoint_every), "must be >= 0");
  require(!c.output.empty(), "output", "''", "must name a directory");
}

}  // namespace batchlab::realtrain
