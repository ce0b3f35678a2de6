// Sampled mode: real stochastic iterates on a landscape, K simulated data-parallel workers.
//
// Each worker w holds its own parameters, its own optimizer (any rule in optim's registry, run
// through Optimizer<EigenD>) and its own BatchStream (noise / minibatch order from the hashed
// stream (seed, w)); its gradient is taken at batch B/K. Per update t (0-based):
//   lr = schedule.lr_at(t)
//   every worker draws its gradient
//   if sync.allreduce_gradients(t): gradients are all-reduced (mean) over the InProcessCommunicator
//   every worker steps its optimizer
//   optim::apply_parameter_averaging(sync, t, ...) averages parameters (and, with
//   average_momentum, every optimizer state buffer) globally or within nodes of node_size workers;
//   under diloco / streaming-diloco, optim::DilocoSync takes the outer step instead
//   (stochastic rounding seeded by the trial seed)
// The evaluated model is the mean of the workers' parameters (identical under sync); optimizer
// "ema" (SGD, or heavy ball when momentum > 0) evaluates the iterate EMA of that model,
// theta~ <- gamma theta~ + (1-gamma) theta after each update, theta~_0 = theta_0.
// Workers step in lock-step on one thread, so results do not depend on the thread count.
#pragma once

#include "sim/trial.h"

namespace batchlab::sim {

TrialResult run_sampled(const TrialSpec& spec);

}  // namespace batchlab::sim
