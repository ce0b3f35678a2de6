// Carrying out a SyncPolicy's decisions over a Communicator, for any backend whose buffers are
// contiguous (Eigen vectors here; torch tensors use the same calls through data_ptr()).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "optim/communicator.h"
#include "optim/sync_policy.h"

namespace batchlab::optim {

// Average one buffer per replica hosted here (the comm's replicas) in place.
inline void average_replicas(Communicator& comm, std::span<const BufferRef> replicas) {
  comm.allreduce_mean(replicas);
}

// After update `step`: average parameters (and, if the policy says so, momentum buffers) over
// `node` or `global`, as policy.average_after(step) decides. params[r][i] is replica r's
// buffer i (same layout on every replica). Returns the scope used.
AverageScope apply_parameter_averaging(const SyncPolicy& policy, std::int64_t step,
                                       Communicator& global, Communicator* node,
                                       const std::vector<std::vector<BufferRef>>& params,
                                       const std::vector<std::vector<BufferRef>>& momentum);

}  // namespace batchlab::optim
