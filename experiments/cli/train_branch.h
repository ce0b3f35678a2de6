// `batchlab train --branch-from RUN_DIR ...` and `batchlab train --warmup-every E ...`: the
// branched critical-batch test and the CBS-driven batch warm-up (experiments/engine/branching.h)
// on real training. The trainer is the BranchRunner: a branch is the run resumed from the
// checkpoint with a batch schedule that multiplies the batch by k at the checkpoint's examples
// (lr coupled by optim::BatchSchedule), trained N / (k B) updates and evaluated once at the end.
#pragma once

#include <boost/program_options.hpp>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "realtrain/process_group.h"
#include "realtrain/train_config.h"

namespace batchlab::cli {

struct TrainBranchOptions {
  std::string from;  // the branched-from run's --output (its checkpoint/rank<r>.pt)
  std::string factors = "2,4,8";
  std::int64_t examples = 0;
  double epsilon = 0.0;
  std::string gap = "progress";
  std::string lr_coupling = "auto";
  std::int64_t warmup_every = 0, warmup_examples = 0, warmup_max_batch = 0;

  bool branching() const { return !from.empty(); }
  bool warmup() const { return warmup_every > 0 || warmup_examples > 0; }
};

boost::program_options::options_description train_branch_options(TrainBranchOptions& o);

// Runs the test or the warm-up on every rank; returns the exit status (2: bad input, one line on
// rank 0, before any training; 1: a failure while training; 0: done).
int run_train_branch(const realtrain::TrainConfig& cfg, const TrainBranchOptions& o, realtrain::ProcessGroup& pg,
                     const nlohmann::json& provenance);

}  // namespace batchlab::cli
