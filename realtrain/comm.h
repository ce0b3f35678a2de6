// Communication layer of the real trainer: the process group (MPI or NCCL communicators, one
// replica per rank) and the bucketed gradient all-reduce that overlaps with backward.
//
// Gradient all-reduce follows PyTorch DDP (Li et al. 2020, "PyTorch Distributed: Experiences on
// Accelerating Data Parallel Training", VLDB): parameters are packed, in reverse registration order
// (the order backward produces their gradients), into flat buckets of ~bucket_bytes; a bucket is
// all-reduced as soon as every gradient in it has been accumulated, while backward continues on
// the earlier layers. Buckets are launched strictly in bucket order on every rank, because
// collectives on one communicator must be issued in the same order everywhere.
//
// Failure handling: a rank that dies must make the others stop with a clear error within a minute.
// Under mpirun/srun the launcher tears the job down when a rank exits abnormally (MPI path); the
// NCCL path polls ncclCommGetAsyncError while waiting and calls ncclCommAbort after a timeout.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "optim/communicator.h"

namespace batchlab::realtrain {

// Started once per process. backend "mpi" (CPU tensors) or "nccl" (CUDA tensors, one rank per GPU,
// ncclUniqueId broadcast over MPI). Works under mpirun and srun, and as a single process with no
// launcher (MPI singleton). MPI is initialised with MPI_THREAD_MULTIPLE.
struct ProcessGroup {
  int rank = 0, world = 1, local_rank = 0, local_size = 1;  // local = same node
  std::string backend;                                       // "mpi" | "nccl"
  std::unique_ptr<optim::Communicator> global;               // all ranks (1 replica per rank)
  std::unique_ptr<optim::Communicator> node;                 // ranks of this node (hierarchical sync)
};

// Throws std::runtime_error with a one-line message (unknown backend, no CUDA device for "nccl",
// NCCL not compiled in, MPI without thread support). Calling it again with the same backend
// returns the existing group; with another backend it throws.
ProcessGroup& init_process_group(const std::string& backend);
// Destroys the communicators and finalizes MPI if init_process_group initialised it. Idempotent.
void finalize_process_group();
// From the launcher's environment (OMPI_COMM_WORLD_SIZE, PMI_SIZE, SLURM_NTASKS), before init.
bool launched_with_multiple_ranks();

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
