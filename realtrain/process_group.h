// The process group of the real trainer: this process's rank, the world, and the communicators
// over all ranks and over the ranks of this node (MPI or NCCL; no MPI at all for one rank that no
// launcher started).
//
// Failure handling: a rank that dies must make the others stop with a clear error within a minute.
// Under mpirun/srun the launcher tears the job down when a rank exits abnormally (MPI path); the
// NCCL path polls ncclCommGetAsyncError while waiting and calls ncclCommAbort after a timeout.
#pragma once

#include <memory>
#include <string>

#include "optim/communicator.h"

namespace batchlab::realtrain {

// Started once per process. backend "mpi" (CPU tensors) or "nccl" (CUDA tensors, one rank per GPU,
// ncclUniqueId broadcast over MPI). Works under mpirun and srun, and as a single process with no
// launcher: then (backend "mpi", MPI not yet initialised) the group is one rank whose
// communicators do nothing (SelfCommunicator) and MPI is never started, which saves the ~0.5 s of
// an MPI singleton start-up (and its orted child) in every single-rank `batchlab train`.
// MPI is initialised with MPI_THREAD_MULTIPLE.
struct ProcessGroup {
  int rank = 0, world = 1, local_rank = 0, local_size = 1;  // local = same node
  // The CUDA device this rank's NCCL communicators use (nccl::select_device); -1 for "mpi".
  // Not always local_rank: a launcher that binds one GPU per task shows each rank only device 0.
  int cuda_device = -1;
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
// This process's rank as the launcher set it (OMPI_COMM_WORLD_RANK, PMI_RANK, PMIX_RANK,
// SLURM_PROCID; 0 without one), readable before init so option errors print once.
int launcher_rank();
// True when an MPI launcher started this process (mpirun/mpiexec, PMI or PMIx, or srun with more
// than one task), whatever the rank count; read from the environment, before init.
bool launched_by_mpi_launcher();

// The communicator of a one-rank group without MPI: every collective leaves the buffer as it is
// (the mean over one worker is that worker's value).
class SelfCommunicator final : public optim::Communicator {
 public:
  explicit SelfCommunicator(std::string name) : name_(std::move(name)) {}
  int world_size() const override { return 1; }
  int replicas_here() const override { return 1; }
  int first_worker() const override { return 0; }
  void allreduce_mean(std::span<const optim::BufferRef> replicas) override;
  void broadcast(std::span<const optim::BufferRef> replicas, int root) override;
  void barrier() override {}
  std::string name() const override { return name_; }

 private:
  std::string name_;
};

}  // namespace batchlab::realtrain
