// One real data-parallel training run: the loop of `batchlab train`.
//
// Every rank runs the same loop on its slice of each global batch (data::ShardedSampler):
//   forward/backward on B_k / world examples -> gradients all-reduced (mean) when the sync policy
//   says so, bucketed and overlapped with backward (GradientSynchronizer) -> one update of
//   optim::Optimizer<TorchBackend> at lr = LrSchedule::lr_at(step) -> parameters (and, if asked,
//   optimizer state) averaged when SyncPolicy::average_after(step) says so.
// B_k = optim::BatchSchedule::batch_at(k): --batch-size, or with a batch-size schedule
// (Smith, Kindermans, Ying, Le 2018, "Don't decay the learning rate, increase the batch size")
//   B_k = min(batch_max, round_ranks(B_0 x factor^j))  once j batch milestones (examples) passed,
// with the lr left to its own schedule (the scaling rule sees B_0). The examples column and
// examples_to_target are sums of B_k; the noise scale takes B_small = B_k / world, B_big = B_k
// (with --accumulate N: B_small = B_k / (world N), one micro-batch, even on one rank).
// The loss and the evaluation come from objective.h: image classification, or next-token
// prediction for a language model on the text dataset (eval_loss in nats per token); the run
// stops at --target (test accuracy reached from below) or --target-loss (test loss from above).
// --precision bf16 runs forward in bfloat16 autocast, keeping float32 weights and state.
// All optimizer, schedule, scaling, sync, batch-schedule and noise-scale arithmetic comes from
// optim/; nothing is re-implemented here. BatchNorm running statistics stay per rank (never averaged), as in Goyal et
// al. 2017 and PyTorch DDP without SyncBatchNorm; evaluation therefore averages the ranks' views.
//
// Outputs (rank 0 only): OUTPUT/metrics.csv, one row per evaluation, and OUTPUT/summary.json.
// Checkpoints (every rank its own file, since local SGD and BN statistics differ per rank):
// OUTPUT/checkpoint/rank<r>.pt, written to a temporary file and renamed. A resumed run's
// metrics.csv and summary.json equal the uninterrupted run's in everything but the timings, also
// when the checkpoint lies between two evaluations (the open window's losses are saved).
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "realtrain/checkpoint.h"
#include "realtrain/grad_sync.h"
#include "realtrain/process_group.h"
#include "realtrain/models.h"
#include "realtrain/train_config.h"

namespace batchlab::realtrain {

struct TrainResult {
  std::string status = "not_reached";  // reached | not_reached | diverged
  std::int64_t steps = 0;              // updates done (including those before a resume)
  std::int64_t examples = 0;           // sum of the global batches of those updates
  std::int64_t steps_to_target = -1;   // -1 unless reached
  double final_accuracy = 0.0, final_eval_loss = 0.0;  // language models: next-token, nats per token
  double wall_s = 0.0;      // training loop wall time of this process (without evaluation)
  double img_per_s = 0.0;   // global examples per second of training-loop wall time
  double tokens_per_s = 0.0;  // language models: img_per_s x context (predicted tokens per second)
  std::int64_t parameters = 0;
  double compute_s = 0.0, comm_s = 0.0, data_s = 0.0;
  double b_simple = 0.0;    // NaN when not measured (one rank)
  // The batches the last noise-scale update used: B_k / world and B_k (NaN when not measured).
  double noise_small_batch = 0.0, noise_big_batch = 0.0;
};

class Trainer {
 public:
  // Validates cfg with validate_train_config (optim::ConfigError) -- the one place a training
  // run's settings are validated, so callers (the CLI, tests) do not validate them first --
  // then checks what the process group and machine must provide (ConfigError), opens the
  // datasets (data::DataError) and builds the model. `provenance` (argv, git SHA, ...) is copied
  // into summary.json with the torch/MPI versions, ranks, threads and device added.
  Trainer(TrainConfig cfg, ProcessGroup& pg, nlohmann::json provenance = nlohmann::json::object());
  ~Trainer();
  // Restores the checkpoint (cfg.resume), trains to total_steps() (or the target, or
  // divergence), evaluating every eval_every updates and checkpointing every checkpoint_every,
  // and writes summary.json. A resume that cannot continue exactly throws std::runtime_error.
  TrainResult run();

  // Why this run cannot continue the checkpoint `s` (empty: it can): the number and shapes of the
  // parameters, model buffers and optimizer state, the examples done at its step under this
  // run's batch schedule, and the lr of its last update under this run's schedule (CheckpointState
  // ::prev_lr). `batchlab train --branch-from` refuses a checkpoint of another model or config
  // with it, before any work.
  std::string checkpoint_mismatch(const CheckpointState& s);

  Model& model();
  // This rank's parameters in registration order (one per optimizer group).
  std::vector<torch::Tensor> parameters() const;
  std::int64_t steps_per_epoch() const;
  std::int64_t total_steps() const;
  std::int64_t parameter_count() const;  // scalar parameters of the model
  // The global batch of update `step` and the examples of updates 0 .. step-1 (BatchSchedule).
  std::int64_t global_batch(std::int64_t step) const;
  std::int64_t examples_before(std::int64_t step) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// torch threads for this rank: `requested`, or (0) 1 under a multi-rank launcher, else all cores.
int resolve_threads(int requested);

}  // namespace batchlab::realtrain
