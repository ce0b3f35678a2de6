#include "realtrain/comm_mpi.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace batchlab::realtrain {
namespace {

// MPI counts are int; larger buffers go out in chunks of this many elements.
constexpr std::size_t kMaxChunkElements = std::size_t{1} << 30;

MPI_Datatype mpi_type(optim::DType t) { return t == optim::DType::kFloat32 ? MPI_FLOAT : MPI_DOUBLE; }
std::size_t element_bytes(optim::DType t) { return t == optim::DType::kFloat32 ? 4 : 8; }

const optim::BufferRef& single_replica(std::span<const optim::BufferRef> replicas, const char* what,
                                       const std::string& name) {
  if (replicas.size() != 1) {
    throw std::invalid_argument(std::string(what) + " on " + name + ": expected 1 replica per rank, got " +
                                std::to_string(replicas.size()));
  }
  return replicas[0];
}

// Calls f(pointer, count) for each chunk of the buffer.
template <class F>
void for_each_chunk(const optim::BufferRef& b, F&& f) {
  auto* bytes = static_cast<char*>(b.data);
  for (std::size_t done = 0; done < b.count; done += kMaxChunkElements) {
    const std::size_t n = std::min(kMaxChunkElements, b.count - done);
    f(bytes + done * element_bytes(b.dtype), static_cast<int>(n));
  }
}

class MpiPending final : public PendingCollective {
 public:
  MpiPending(std::vector<MPI_Request> requests, std::string name)
      : requests_(std::move(requests)), name_(std::move(name)) {}
  ~MpiPending() override {
    // A request must not be abandoned while MPI may still write into the buffer.
    if (!done_) {
      MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
    }
  }
  bool test() override {
    if (done_) return true;
    int flag = 0;
    check_mpi(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &flag, MPI_STATUSES_IGNORE),
              "MPI_Testall(Iallreduce)", name_);
    done_ = flag != 0;
    return done_;
  }
  void wait() override {
    if (done_) return;
    check_mpi(MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE),
              "MPI_Waitall(Iallreduce)", name_);
    done_ = true;
  }

 private:
  std::vector<MPI_Request> requests_;
  std::string name_;
  bool done_ = false;
};

}  // namespace

void check_mpi(int rc, const char* what, const std::string& comm_name) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw std::runtime_error(std::string(what) + " on " + comm_name + ": " + std::string(msg, len));
}

MpiCommunicator::MpiCommunicator(MPI_Comm parent, std::string name) : name_(std::move(name)) {
  check_mpi(MPI_Comm_dup(parent, &comm_), "MPI_Comm_dup", name_);
  check_mpi(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler", name_);
  check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank", name_);
  check_mpi(MPI_Comm_size(comm_, &size_), "MPI_Comm_size", name_);
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

void MpiCommunicator::allreduce_mean(std::span<const optim::BufferRef> replicas) {
  const auto& b = single_replica(replicas, "allreduce_mean", name_);
  for_each_chunk(b, [&](void* p, int n) {
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, p, n, mpi_type(b.dtype), MPI_SUM, comm_), "MPI_Allreduce", name_);
  });
  if (size_ == 1) return;
  if (b.dtype == optim::DType::kFloat32) {
    const float inv = 1.0f / static_cast<float>(size_);
    auto* x = static_cast<float*>(b.data);
    for (std::size_t i = 0; i < b.count; ++i) x[i] *= inv;
  } else {
    const double inv = 1.0 / static_cast<double>(size_);
    auto* x = static_cast<double*>(b.data);
    for (std::size_t i = 0; i < b.count; ++i) x[i] *= inv;
  }
}

void MpiCommunicator::broadcast(std::span<const optim::BufferRef> replicas, int root) {
  const auto& b = single_replica(replicas, "broadcast", name_);
  if (root < 0 || root >= size_) {
    throw std::invalid_argument("broadcast on " + name_ + ": root " + std::to_string(root) +
                                " outside [0, " + std::to_string(size_) + ")");
  }
  for_each_chunk(b, [&](void* p, int n) {
    check_mpi(MPI_Bcast(p, n, mpi_type(b.dtype), root, comm_), "MPI_Bcast", name_);
  });
}

void MpiCommunicator::barrier() { check_mpi(MPI_Barrier(comm_), "MPI_Barrier", name_); }

std::unique_ptr<PendingCollective> MpiCommunicator::start_allreduce_sum(const optim::BufferRef& b) {
  std::vector<MPI_Request> requests;
  for_each_chunk(b, [&](void* p, int n) {
    MPI_Request r = MPI_REQUEST_NULL;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, p, n, mpi_type(b.dtype), MPI_SUM, comm_, &r), "MPI_Iallreduce",
              name_);
    requests.push_back(r);
  });
  return std::make_unique<MpiPending>(std::move(requests), name_);
}

}  // namespace batchlab::realtrain
