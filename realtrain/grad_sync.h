// The gradient synchroniser of the real trainer: the bucketed gradient all-reduce that overlaps
// with backward, and the asynchronous-collective interface it drives (MpiCommunicator,
// NcclCommunicator).
//
// Gradient all-reduce follows PyTorch DDP (Li et al. 2020, "PyTorch Distributed: Experiences on
// Accelerating Data Parallel Training", VLDB): parameters are packed, in reverse registration order
// (the order backward produces their gradients), into flat buckets of ~bucket_bytes; a bucket is
// all-reduced as soon as every gradient in it has been accumulated, while backward continues on
// the earlier layers. Buckets are launched strictly in bucket order on every rank, because
// collectives on one communicator must be issued in the same order everywhere.
//
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "optim/communicator.h"

namespace batchlab::realtrain {

// A collective started now and completed later. Communicators whose collectives can run in the
// background (MPI_Iallreduce; ncclAllReduce on a communication stream) implement
// AsyncCommunicator; GradientSynchronizer uses it to overlap buckets with backward.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  virtual bool test() = 0;  // drives progress; true once complete (then the buffer holds the result)
  virtual void wait() = 0;  // blocks until complete; throws on a communication error or timeout
};

class AsyncCommunicator : public optim::Communicator {
 public:
  // Element-wise sum over all ranks, in place, of one buffer (one replica per rank). The buffer
  // must stay alive and untouched until the returned collective completes. Collectives must be
  // started in the same order on every rank.
  virtual std::unique_ptr<PendingCollective> start_allreduce_sum(const optim::BufferRef& buffer) = 0;
};

// Bucketed gradient all-reduce (mean), overlapped with backward via autograd hooks on each
// parameter's gradient accumulator (they fire after .grad() has been written).
//
// Use per step: prepare(true); loss.backward(); finish(); then .grad() holds the mean over ranks.
// After a reduced step a contiguous parameter's .grad() is a view into its bucket (as DDP's
// gradient_as_bucket_view), valid until the next backward: no copy back. Reset (or zero) the
// gradients before the next backward, as usual.
// Do not issue other collectives on the same communicator between prepare() and finish().
// Parameters without requires_grad are skipped; a parameter that got no gradient this step counts
// as a zero gradient (its .grad() is then set to the mean of the others' gradients).
// Communicators other than AsyncCommunicator still work, each bucket then blocks when it is ready.
class GradientSynchronizer {
 public:
  GradientSynchronizer(std::vector<torch::Tensor> params, optim::Communicator& comm,
                       std::size_t bucket_bytes = 25u << 20, bool overlap = true);
  ~GradientSynchronizer();
  GradientSynchronizer(const GradientSynchronizer&) = delete;
  GradientSynchronizer& operator=(const GradientSynchronizer&) = delete;

  void prepare(bool enabled);         // before backward; enabled=false: this step's grads stay local
  void finish();                      // after backward: waits; grads hold the mean over ranks
  double local_grad_sq_norm() const;  // |g_rank|^2 of this step, measured before reduction (noise scale)
  double reduced_grad_sq_norm() const;  // |mean over ranks of g|^2 after a reduced step; else = local
  double comm_seconds() const;        // cumulative time blocked waiting for communication

  // For tests and benchmarks. Parameter indices count only the params that require grad.
  std::size_t bucket_count() const;
  std::vector<std::size_t> bucket_param_indices(std::size_t bucket) const;
  std::size_t buckets_launched_during_backward() const;  // of the last finish()ed step

  struct State;  // shared with the autograd hooks, which may outlive this object

 private:
  std::shared_ptr<State> state_;
};

}  // namespace batchlab::realtrain
