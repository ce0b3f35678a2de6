#include "optim/sync.h"

#include <stdexcept>

namespace batchlab::optim {
namespace {

void average_each(Communicator& comm, const std::vector<std::vector<BufferRef>>& bufs) {
  if (bufs.empty()) return;
  const std::size_t n = bufs[0].size();
  std::vector<BufferRef> reps(bufs.size());
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t r = 0; r < bufs.size(); ++r) {
      if (bufs[r].size() != n)
        throw std::invalid_argument("apply_parameter_averaging: replicas have different layouts");
      reps[r] = bufs[r][i];
    }
    comm.allreduce_mean(reps);
  }
}

}  // namespace

AverageScope apply_parameter_averaging(const SyncPolicy& policy, std::int64_t step,
                                       Communicator& global, Communicator* node,
                                       const std::vector<std::vector<BufferRef>>& params,
                                       const std::vector<std::vector<BufferRef>>& momentum) {
  const AverageScope scope = policy.average_after(step);
  if (scope == AverageScope::kNone) return scope;
  Communicator* comm = &global;
  if (scope == AverageScope::kNode) {
    if (node == nullptr)
      throw std::invalid_argument("hierarchical sync policy needs a node communicator");
    comm = node;
  }
  average_each(*comm, params);
  if (policy.average_momentum) average_each(*comm, momentum);
  return scope;
}

}  // namespace batchlab::optim
