// Sync policies: when data-parallel workers exchange gradients or average parameters.
//
//   sync              all-reduce gradients before every update (ordinary large-batch SGD)
//   local:H           local SGD (Stich 2019): no gradient exchange; average parameters after
//                     every H-th update
//   post-local:H@t0   Lin et al. 2020: sync for updates 0..t0-1 (0-based), then local:H
//                     counted from t0: averages after t0+H, t0+2H, ... updates are done, so
//                     post-local:H@0 is local:H. Gradient all-reduce stops where PyTorch's
//                     PostLocalSGDState(start_localSGD_iter=t0) stops it, but PyTorch's
//                     PeriodicModelAverager(period=H, warmup_steps=t0) averages one update
//                     earlier in each period (after t0+1, t0+1+H, ... done updates: it tests
//                     the 0-based index of the update just taken). The two agree for H = 1.
//   hier:H1:H2        hierarchical local SGD: average within a node after every H1-th update and
//                     across all workers after every (H1 H2)-th update
// Whether momentum buffers are averaged together with the parameters is explicit
// (average_momentum; the reference code keeps them local).
//
// The policy only decides; apply_* functions (sync.h) carry the decision out over a Communicator.
#pragma once

#include <cstdint>
#include <string>

namespace batchlab::optim {

enum class SyncKind { kSync, kLocal, kPostLocal, kHierarchical };
enum class AverageScope { kNone, kNode, kGlobal };

struct SyncPolicy {
  SyncKind kind = SyncKind::kSync;
  std::int64_t period = 1;        // H (local, post-local), H1 (hierarchical)
  std::int64_t switch_step = 0;   // t0 (post-local)
  std::int64_t outer_period = 1;  // H2 (hierarchical): global every H1 H2 updates
  bool average_momentum = false;

  // "sync", "local:H", "post-local:H@t0", "hier:H1:H2". Throws ConfigError (H = 0, t0 < 0, ...).
  static SyncPolicy parse(const std::string& spec, bool average_momentum = false);
  std::string to_string() const;

  // Before the update with 0-based index `step`: are gradients all-reduced?
  bool allreduce_gradients(std::int64_t step) const;
  // After the update with 0-based index `step` (so step + 1 updates are done): which averaging.
  AverageScope average_after(std::int64_t step) const;
  // Number of parameter-averaging rounds (global, node) in the first `steps` updates.
  std::int64_t communication_rounds(std::int64_t steps) const;
};

}  // namespace batchlab::optim
