#include "realtrain/nccl/comm_nccl.h"

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include <cuda_runtime.h>
#include <nccl.h>

#include "realtrain/comm_mpi.h"

namespace batchlab::realtrain::nccl {
namespace {

using Clock = std::chrono::steady_clock;

void check_cuda(cudaError_t rc, const char* what) {
  if (rc != cudaSuccess) {
    throw std::runtime_error(std::string("nccl backend: ") + what + ": " + cudaGetErrorString(rc));
  }
}

ncclDataType_t nccl_type(optim::DType t) { return t == optim::DType::kFloat32 ? ncclFloat32 : ncclFloat64; }
std::size_t element_bytes(optim::DType t) { return t == optim::DType::kFloat32 ? 4 : 8; }

bool is_device_pointer(const void* p) {
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "invalid value" a plain host pointer may leave
    return false;
  }
  return attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged;
}

// Shared by the communicator and its pending collectives: the NCCL handle and whether it was
// aborted (after an abort every later call must fail fast instead of touching the dead handle).
struct Handle {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;   // communication stream (ours)
  cudaStream_t compute = nullptr;  // stream that produced the buffers (not ours)
  std::string name;
  double timeout_s = 60;
  bool aborted = false;

  void check(ncclResult_t rc, const char* what) {
    if (rc == ncclSuccess) return;
    const std::string detail = comm ? ncclGetLastError(comm) : "";
    throw std::runtime_error("nccl " + std::string(what) + " on " + name + ": " + ncclGetErrorString(rc) +
                             (detail.empty() ? "" : " (" + detail + ")"));
  }
  void require_alive(const char* what) const {
    if (aborted) throw std::runtime_error("nccl " + std::string(what) + " on " + name + ": communicator was aborted");
  }
  void abort() {
    if (!aborted && comm) ncclCommAbort(comm);
    aborted = true;
  }
  // Polls until `done` fires; an async NCCL error or the timeout aborts the communicator.
  void wait_event(cudaEvent_t done, const char* what) {
    const auto start = Clock::now();
    for (;;) {
      const cudaError_t q = cudaEventQuery(done);
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) check_cuda(q, what);
      ncclResult_t async = ncclSuccess;
      check(ncclCommGetAsyncError(comm, &async), "ncclCommGetAsyncError");
      if (async != ncclSuccess && async != ncclInProgress) {
        const std::string err = ncclGetErrorString(async);
        abort();
        throw std::runtime_error("nccl " + std::string(what) + " on " + name + ": asynchronous error: " + err +
                                 " (a peer rank may have failed); communicator aborted");
      }
      const double waited_s = std::chrono::duration<double>(Clock::now() - start).count();
      if (waited_s > timeout_s) {
        abort();
        throw std::runtime_error("nccl " + std::string(what) + " on " + name + ": no completion after " +
                                 std::to_string(static_cast<int>(timeout_s)) +
                                 " s (a peer rank may have died or hung); communicator aborted");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
};

struct Event {
  cudaEvent_t e = nullptr;
  Event() { check_cuda(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate"); }
  ~Event() {
    if (e) cudaEventDestroy(e);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
};

class NcclPending final : public PendingCollective {
 public:
  NcclPending(std::shared_ptr<Handle> h, std::unique_ptr<Event> done) : h_(std::move(h)), done_(std::move(done)) {}
  ~NcclPending() override {
    if (!complete_ && !h_->aborted) {
      try {
        h_->wait_event(done_->e, "allreduce (abandoned)");
      } catch (...) {  // a destructor must not throw; the handle is aborted already
      }
    }
  }
  bool test() override {
    if (complete_) return true;
    h_->require_alive("allreduce");
    const cudaError_t q = cudaEventQuery(done_->e);
    if (q == cudaErrorNotReady) return false;
    check_cuda(q, "cudaEventQuery");
    complete_ = true;
    return true;
  }
  void wait() override {
    if (complete_) return;
    h_->require_alive("allreduce");
    h_->wait_event(done_->e, "allreduce");
    complete_ = true;
  }

 private:
  std::shared_ptr<Handle> h_;
  std::unique_ptr<Event> done_;
  bool complete_ = false;
};

class NcclCommunicator final : public AsyncCommunicator {
 public:
  NcclCommunicator(MPI_Comm over, std::string name, double timeout_s, void* compute_stream)
      : h_(std::make_shared<Handle>()) {
    h_->name = std::move(name);
    h_->timeout_s = timeout_s;
    h_->compute = static_cast<cudaStream_t>(compute_stream);
    check_mpi(MPI_Comm_rank(over, &rank_), "MPI_Comm_rank", h_->name);
    check_mpi(MPI_Comm_size(over, &size_), "MPI_Comm_size", h_->name);
    ncclUniqueId id{};
    if (rank_ == 0) h_->check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    check_mpi(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, over), "MPI_Bcast(ncclUniqueId)", h_->name);
    h_->check(ncclCommInitRank(&h_->comm, size_, id, rank_), "ncclCommInitRank");
    check_cuda(cudaStreamCreateWithFlags(&h_->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check_cuda(cudaMalloc(&scratch_, sizeof(float)), "cudaMalloc(barrier scratch)");
  }
  ~NcclCommunicator() override {
    if (scratch_) cudaFree(scratch_);
    if (h_->comm && !h_->aborted) ncclCommDestroy(h_->comm);
    if (h_->stream) cudaStreamDestroy(h_->stream);
  }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int world_size() const override { return size_; }
  int replicas_here() const override { return 1; }
  int first_worker() const override { return rank_; }
  std::string name() const override { return h_->name; }

  void allreduce_mean(std::span<const optim::BufferRef> replicas) override {
    const auto& b = single(replicas, "allreduce_mean");
    run_blocking(b, "allreduce_mean", [&](void* p) {
      return ncclAllReduce(p, p, b.count, nccl_type(b.dtype), ncclAvg, h_->comm, h_->stream);
    });
  }
  void broadcast(std::span<const optim::BufferRef> replicas, int root) override {
    const auto& b = single(replicas, "broadcast");
    if (root < 0 || root >= size_) {
      throw std::invalid_argument("broadcast on " + h_->name + ": root " + std::to_string(root) + " outside [0, " +
                                  std::to_string(size_) + ")");
    }
    run_blocking(b, "broadcast", [&](void* p) {
      return ncclBroadcast(p, p, b.count, nccl_type(b.dtype), root, h_->comm, h_->stream);
    });
  }
  void barrier() override {
    optim::BufferRef b{scratch_, 1, optim::DType::kFloat32};
    run_blocking(b, "barrier", [&](void* p) {
      return ncclAllReduce(p, p, 1, ncclFloat32, ncclSum, h_->comm, h_->stream);
    });
  }
  std::unique_ptr<PendingCollective> start_allreduce_sum(const optim::BufferRef& b) override {
    h_->require_alive("allreduce");
    order_after_compute();
    h_->check(ncclAllReduce(b.data, b.data, b.count, nccl_type(b.dtype), ncclSum, h_->comm, h_->stream),
              "ncclAllReduce");
    auto done = std::make_unique<Event>();
    check_cuda(cudaEventRecord(done->e, h_->stream), "cudaEventRecord");
    return std::make_unique<NcclPending>(h_, std::move(done));
  }

 private:
  const optim::BufferRef& single(std::span<const optim::BufferRef> replicas, const char* what) const {
    if (replicas.size() != 1) {
      throw std::invalid_argument(std::string(what) + " on " + h_->name + ": expected 1 replica per rank, got " +
                                  std::to_string(replicas.size()));
    }
    return replicas[0];
  }
  void order_after_compute() {
    Event ready;
    check_cuda(cudaEventRecord(ready.e, h_->compute), "cudaEventRecord(compute)");
    check_cuda(cudaStreamWaitEvent(h_->stream, ready.e, 0), "cudaStreamWaitEvent");
  }
  // Host buffers (the trainer's small evaluation sums) are staged through device memory.
  template <class F>
  void run_blocking(const optim::BufferRef& b, const char* what, F&& launch) {
    h_->require_alive(what);
    const std::size_t bytes = b.count * element_bytes(b.dtype);
    const bool on_host = !is_device_pointer(b.data);
    void* p = b.data;
    if (on_host) {
      check_cuda(cudaMalloc(&p, bytes), "cudaMalloc(staging)");
      check_cuda(cudaMemcpy(p, b.data, bytes, cudaMemcpyHostToDevice), "cudaMemcpy(H2D)");
    } else {
      order_after_compute();
    }
    try {
      h_->check(launch(p), what);
      Event done;
      check_cuda(cudaEventRecord(done.e, h_->stream), "cudaEventRecord");
      h_->wait_event(done.e, what);
      // Later compute-stream work must see the result.
      check_cuda(cudaStreamWaitEvent(h_->compute, done.e, 0), "cudaStreamWaitEvent");
      if (on_host) check_cuda(cudaMemcpy(b.data, p, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy(D2H)");
    } catch (...) {
      if (on_host) cudaFree(p);
      throw;
    }
    if (on_host) cudaFree(p);
  }

  std::shared_ptr<Handle> h_;
  int rank_ = 0, size_ = 1;
  void* scratch_ = nullptr;
};

}  // namespace

int require_cuda_devices() {
  int count = 0;
  const cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error(std::string("nccl backend: no CUDA device visible (cudaGetDeviceCount: ") +
                             cudaGetErrorString(rc) + ")");
  }
  if (count <= 0) {
    throw std::runtime_error("nccl backend: no CUDA device visible (cudaGetDeviceCount: 0 devices)");
  }
  return count;
}

int select_device(int local_rank, int local_size) {
  const int count = require_cuda_devices();
  int device = -1;
  if (count >= local_size) device = local_rank;
  else if (count == 1) device = 0;
  if (device < 0) {
    throw std::runtime_error("nccl backend: " + std::to_string(local_size) + " ranks on this node but " +
                             std::to_string(count) + " CUDA devices visible (launch one rank per GPU)");
  }
  check_cuda(cudaSetDevice(device), "cudaSetDevice");
  return device;
}

double default_timeout_s() {
  const char* env = std::getenv("BATCHLAB_NCCL_TIMEOUT_S");
  if (env == nullptr || *env == '\0') return 60.0;
  char* end = nullptr;
  const double v = std::strtod(env, &end);
  if (end == env || *end != '\0' || !(v > 0)) {
    throw std::runtime_error(std::string("BATCHLAB_NCCL_TIMEOUT_S: expected a positive number of seconds, got '") +
                             env + "'");
  }
  return v;
}

std::unique_ptr<AsyncCommunicator> make_communicator(MPI_Comm over, std::string name, double timeout_s,
                                                     void* compute_stream) {
  return std::make_unique<NcclCommunicator>(over, std::move(name), timeout_s, compute_stream);
}

std::string version_string() {
  int v = 0;
  ncclGetVersion(&v);
  // NCCL >= 2.9 encodes major*10000 + minor*100 + patch.
  return "NCCL " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

}  // namespace batchlab::realtrain::nccl
