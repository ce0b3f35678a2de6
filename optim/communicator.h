// Communicator: the collectives a sync policy needs (allreduce-mean, broadcast, barrier),
// over raw contiguous buffers, so optim/ never depends on MPI, NCCL or torch.
//
// A process may host several workers ("replicas"): the in-process communicator hosts all K
// simulated workers of a trial and steps them in lock-step from one thread; the MPI and NCCL
// communicators (realtrain/) host one worker per rank. A collective takes the buffers of all
// replicas hosted here, and leaves in each the mean over all world_size() workers.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace batchlab::optim {

enum class DType { kFloat32, kFloat64 };

struct BufferRef {
  void* data = nullptr;  // host or device memory, as the communicator expects
  std::size_t count = 0;
  DType dtype = DType::kFloat64;
};

inline BufferRef buffer_ref(std::span<double> s) { return {s.data(), s.size(), DType::kFloat64}; }
inline BufferRef buffer_ref(std::span<float> s) { return {s.data(), s.size(), DType::kFloat32}; }

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int world_size() const = 0;     // workers across all processes
  virtual int replicas_here() const = 0;  // workers hosted by this process
  virtual int first_worker() const = 0;   // global index of this process's first replica
  // replicas.size() == replicas_here(); all replicas' buffers have the same count and dtype.
  virtual void allreduce_mean(std::span<const BufferRef> replicas) = 0;
  // Every replica receives worker `root`'s buffer.
  virtual void broadcast(std::span<const BufferRef> replicas, int root) = 0;
  virtual void barrier() = 0;
  virtual std::string name() const = 0;
};

// All workers live in this process (the simulator). Deterministic: the mean is summed in
// worker order, whatever the thread count.
class InProcessCommunicator final : public Communicator {
 public:
  explicit InProcessCommunicator(int workers);
  int world_size() const override { return workers_; }
  int replicas_here() const override { return workers_; }
  int first_worker() const override { return 0; }
  void allreduce_mean(std::span<const BufferRef> replicas) override;
  void broadcast(std::span<const BufferRef> replicas, int root) override;
  void barrier() override {}
  std::string name() const override { return "inprocess"; }

 private:
  int workers_;
};

}  // namespace batchlab::optim
