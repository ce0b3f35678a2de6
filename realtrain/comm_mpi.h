// MPI communicator: one replica per rank, CPU buffers (float32 and float64).
// allreduce_mean = MPI_Allreduce(SUM) in place, then scale by 1/world_size(). The communicator
// owns a duplicate of the MPI communicator it is built from, so its collectives never match
// collectives that other code issues on the parent.
#pragma once

#include <memory>
#include <string>

#include <mpi.h>

#include "realtrain/grad_sync.h"

namespace batchlab::realtrain {

class MpiCommunicator final : public AsyncCommunicator {
 public:
  // Duplicates `parent`; errors on the duplicate are returned (MPI_ERRORS_RETURN) and thrown as
  // std::runtime_error naming the operation, the communicator and MPI's error string.
  MpiCommunicator(MPI_Comm parent, std::string name);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int world_size() const override { return size_; }
  int replicas_here() const override { return 1; }
  int first_worker() const override { return rank_; }
  void allreduce_mean(std::span<const optim::BufferRef> replicas) override;
  void broadcast(std::span<const optim::BufferRef> replicas, int root) override;
  void barrier() override;
  std::string name() const override { return name_; }

  std::unique_ptr<PendingCollective> start_allreduce_sum(const optim::BufferRef& buffer) override;

  MPI_Comm handle() const { return comm_; }
  int rank() const { return rank_; }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::string name_;
};

// Throws "<what> on <communicator>: <MPI error string>" unless rc == MPI_SUCCESS.
void check_mpi(int rc, const char* what, const std::string& comm_name);

}  // namespace batchlab::realtrain
