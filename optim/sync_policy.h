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
//   diloco:H          DiLoCo (Douillard et al. 2023): no gradient exchange; after every H-th
//                     update an outer optimizer step on the pseudo-gradient (optim/diloco.h)
//   streaming-diloco:H:F  Streaming DiLoCo (Douillard et al. 2025): the parameters split into F
//                     fragments; fragment f takes its outer step after the updates done
//                     = f H/F (mod H), so each fragment syncs once per H updates, staggered
// Whether momentum buffers are averaged together with the parameters is explicit
// (average_momentum; the reference code keeps them local).
//
// The policy only decides; apply_* functions (sync.h) carry the decision out over a Communicator.
#pragma once

#include <cstdint>
#include <string>

namespace batchlab::optim {

enum class SyncKind { kSync, kLocal, kPostLocal, kHierarchical, kDiloco, kStreamingDiloco };
enum class AverageScope { kNone, kNode, kGlobal };

enum class OuterRule { kSgd, kNesterov };
enum class Rounding { kNearest, kStochastic };

// DiLoCo's outer optimizer and the wire format of its pseudo-gradients (optim/diloco.h has the
// equations). Defaults: the paper's Nesterov, outer lr 0.7, momentum 0.9, unquantised.
struct OuterConfig {
  OuterRule rule = OuterRule::kNesterov;
  double lr = 0.7;
  double momentum = 0.9;
  int bits = 32;                          // 32 (unquantised) | 16 | 8 | 4
  Rounding rounding = Rounding::kNearest;
  bool overlap = false;                   // the outer result lands overlap_steps updates later
  std::int64_t overlap_steps = 1;

  // "nesterov" | "sgd"; "nearest" | "stochastic". Throw ConfigError naming the value.
  static OuterRule parse_rule(const std::string& s);
  static Rounding parse_rounding(const std::string& s);
  static std::string to_string(OuterRule r);
  static std::string to_string(Rounding r);
};

struct SyncPolicy {
  SyncKind kind = SyncKind::kSync;
  std::int64_t period = 1;        // H (local, post-local), H1 (hierarchical)
  std::int64_t switch_step = 0;   // t0 (post-local)
  std::int64_t outer_period = 1;  // H2 (hierarchical): global every H1 H2 updates
  std::int64_t fragments = 1;     // F (streaming-diloco)
  bool average_momentum = false;
  OuterConfig outer;              // diloco, streaming-diloco

  // "sync", "local:H", "post-local:H@t0", "hier:H1:H2", "diloco:H", "streaming-diloco:H:F".
  // Throws ConfigError (H = 0, t0 < 0, F not dividing H, outer bits not 32|16|8|4, ...).
  static SyncPolicy parse(const std::string& spec, bool average_momentum = false,
                          const OuterConfig& outer = {});
  std::string to_string() const;

  // DiLoCo family: parameters leave the workers only as pseudo-gradients of an outer step.
  bool outer_steps() const { return kind == SyncKind::kDiloco || kind == SyncKind::kStreamingDiloco; }
  // After the update with 0-based index `step`: the fragment whose outer step is sent, or -1.
  std::int64_t fragment_due_after(std::int64_t step) const;

  // Before the update with 0-based index `step`: are gradients all-reduced?
  bool allreduce_gradients(std::int64_t step) const;
  // After the update with 0-based index `step` (so step + 1 updates are done): which averaging.
  AverageScope average_after(std::int64_t step) const;
  // Number of communication rounds (gradient all-reduces, averagings, outer steps) in the
  // first `steps` updates.
  std::int64_t communication_rounds(std::int64_t steps) const;
  // Bytes one worker sends (payload, before the all-reduce algorithm's own factor such as a
  // ring's 2 (K-1)/K) around update `step`, for a model of param_count scalars with state_count
  // optimizer-state scalars, each value `value_bytes` wide on the wire. Not for the DiLoCo
  // family, whose quantised payload DilocoSync counts itself.
  std::int64_t bytes_sent(std::int64_t step, std::int64_t param_count, std::int64_t state_count,
                          std::int64_t value_bytes = 4) const;
};

}  // namespace batchlab::optim
