// Timed pieces of one data-parallel training step, for `batchlab bench-step`
// (experiments/cli/cmd_bench_step.cpp turns them into a step-time profile):
//   * updates without communication (forward, backward, update) at a local batch,
//   * the same updates on all ranks with the gradient all-reduce (GradientSynchronizer), with and
//     without overlapping it with backward,
//   * the data loader alone delivering batches,
//   * one all-reduce of n bytes over all ranks.
//
// The update is the trainer's (Trainer::Impl::train_step, realtrain/trainer.cpp), built from the
// same pieces: the model and parameter groups (models.h), optim::Optimizer over TorchBackend
// with the trainer's settings (optimizer_config: any rule, Shampoo's inverse roots included),
// data::Loader batches, K-FAC's begin_update / precondition with --precondition kfac (kfac.h),
// gradients reset to undefined, cross-entropy, backward, GradientSynchronizer prepare/finish,
// loss.item(). It is written out here because the trainer's
// step belongs to a run (its sampler, schedule, metrics and checkpoints) and takes no other local
// batch or sync mode; papers/time_to_accuracy checks the prediction built from these timings
// against the trainer's own training time.
// The lr is fixed and small, 1e-4 (timing does not depend on it while the weights stay finite;
// weights_finite says whether they did).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "optim/optimizer.h"
#include "realtrain/data/source.h"
#include "realtrain/kfac.h"
#include "realtrain/models.h"
#include "realtrain/process_group.h"
#include "realtrain/torch_backend.h"
#include "realtrain/train_config.h"

namespace batchlab::realtrain {

// The update as the trainer's clock sees it: from asking the loader for the batch to the end of
// the optimizer step. A loader that falls behind, or competes with compute for the cores, shows
// up in it as data wait.
struct UpdateTiming {
  double step_s = 0.0;       // mean seconds per update, data wait included
  double data_wait_s = 0.0;  // of which waiting for the loader
};

class StepProbe {
 public:
  // Opens the training set, builds the model and the optimizer of `cfg` (dataset, data-dir,
  // model, optimizer and its settings, precondition and K-FAC's settings, backend, bucket-mb,
  // no-overlap, threads, loader-threads, seed). Throws optim::ConfigError / data::DataError for
  // bad input (K-FAC on a model with a layer it does not cover included).
  StepProbe(const TrainConfig& cfg, ProcessGroup& pg);
  ~StepProbe();

  std::int64_t parameters() const { return parameters_; }
  std::int64_t parameter_tensors() const { return static_cast<std::int64_t>(params_.size()); }
  std::int64_t optimizer_state_values() const { return state_values_; }
  std::int64_t optimizer_state_tensors() const { return state_tensors_; }
  std::int64_t train_examples() const { return train_set_->size(); }
  std::size_t gradient_buckets() const { return buckets_; }
  torch::Device device() const { return device_; }
  int threads() const { return threads_; }

  // How the ranks step: kLocal, this rank on its own; kSync, every rank, gradients all-reduced
  // as the trainer does it (GradientSynchronizer with cfg's buckets and overlap); kSyncBlocking,
  // the same with every bucket all-reduced after backward (no overlap).
  enum class Mode { kLocal, kSync, kSyncBlocking };
  // `warmup` untimed then `steps` timed updates at local batch b. kSync and kSyncBlocking are
  // collective: every rank calls them with the same arguments.
  UpdateTiming time_updates(std::int64_t local_batch, Mode mode, int warmup, int steps);
  // Mean seconds for the loader (cfg.loader_threads threads) to deliver one local batch.
  double time_loader(std::int64_t local_batch, int warmup, int batches);
  // Mean seconds of one all-reduce (mean) of `bytes` of float32 over all ranks (all ranks call).
  double time_allreduce(double bytes, int warmup, int iters);

  // Whether every weight of this rank is still finite (a diverged update times NaN arithmetic).
  bool weights_finite() const;
  // Values of every rank (index = rank), gathered with the global communicator.
  std::vector<double> gather(double value);
  // Waits for every rank without spinning (polls an all-reduce of one value, sleeping between
  // polls), so a rank that waits leaves its core to the ones that work.
  void idle_barrier();

 private:
  void sync_device() const;
  // The loader of local batch b, made on first use and kept, as the trainer keeps its one loader
  // (its threads settled on the cores, its prefetch running ahead) for the whole run.
  data::Loader& loader(std::int64_t local_batch);

  TrainConfig cfg_;
  ProcessGroup& pg_;
  torch::Device device_ = torch::kCPU;
  int threads_ = 1;
  std::shared_ptr<const data::ExampleSource> train_set_;
  std::shared_ptr<Model> model_;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<optim::Optimizer<TorchBackend>> opt_;
  // --precondition kfac: the trainer's K-FAC in front of the rule; its statistics every
  // kfac-stats-every and inverses every precond-every updates count the probe's updates.
  std::unique_ptr<Kfac> kfac_;
  std::int64_t updates_ = 0;
  std::int64_t parameters_ = 0, state_values_ = 0, state_tensors_ = 0;
  std::size_t buckets_ = 1;
  std::map<std::int64_t, std::unique_ptr<data::Loader>> loaders_;
};

}  // namespace batchlab::realtrain
