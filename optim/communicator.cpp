#include "optim/communicator.h"

#include <algorithm>
#include <stdexcept>

namespace batchlab::optim {
namespace {

template <class S>
void mean_into_all(std::span<const BufferRef> reps) {
  const std::size_t n = reps[0].count;
  S* first = static_cast<S*>(reps[0].data);
  for (std::size_t r = 1; r < reps.size(); ++r) {
    const S* x = static_cast<const S*>(reps[r].data);
    for (std::size_t i = 0; i < n; ++i) first[i] += x[i];
  }
  const S inv = S(1) / static_cast<S>(reps.size());
  for (std::size_t i = 0; i < n; ++i) first[i] *= inv;
  for (std::size_t r = 1; r < reps.size(); ++r)
    std::copy(first, first + n, static_cast<S*>(reps[r].data));
}

void check(std::span<const BufferRef> reps, int workers, const char* op) {
  if (static_cast<int>(reps.size()) != workers)
    throw std::invalid_argument(std::string("InProcessCommunicator::") + op + ": expected " +
                                std::to_string(workers) + " replicas, got " +
                                std::to_string(reps.size()));
  for (const auto& r : reps)
    if (r.count != reps[0].count || r.dtype != reps[0].dtype)
      throw std::invalid_argument(std::string("InProcessCommunicator::") + op +
                                  ": replicas differ in size or dtype");
}

}  // namespace

InProcessCommunicator::InProcessCommunicator(int workers) : workers_(workers) {
  if (workers < 1)
    throw std::invalid_argument("InProcessCommunicator: workers = " + std::to_string(workers) +
                                ": must be >= 1");
}

void InProcessCommunicator::allreduce_mean(std::span<const BufferRef> reps) {
  check(reps, workers_, "allreduce_mean");
  if (reps[0].dtype == DType::kFloat64)
    mean_into_all<double>(reps);
  else
    mean_into_all<float>(reps);
}

void InProcessCommunicator::broadcast(std::span<const BufferRef> reps, int root) {
  check(reps, workers_, "broadcast");
  if (root < 0 || root >= workers_)
    throw std::invalid_argument("InProcessCommunicator::broadcast: root " + std::to_string(root));
  const std::size_t bytes = reps[0].count * (reps[0].dtype == DType::kFloat64 ? 8 : 4);
  for (int r = 0; r < workers_; ++r)
    if (r != root)
      std::copy_n(static_cast<const char*>(reps[root].data), bytes,
                  static_cast<char*>(reps[r].data));
}

}  // namespace batchlab::optim
