// Step-time model of data-parallel training, and the step-time profile it is built from
// (`batchlab bench-step` writes one; docs/profile_schema.md documents profile.json).
//
// One update of K workers, each on a local batch b = B / K (the trainer's loop, realtrain/trainer.h):
//
//   T_c(b)    = alpha_c + beta_c b                  one update without communication, as the trainer's
//                                                   clock sees it: batch from the loader, forward,
//                                                   backward, optimizer step (data wait included)
//   T_ar(n)   = alpha_ar + beta_ar n                one all-reduce of n bytes over K ranks
//   T_grad    = m alpha_ar + beta_ar G              the gradient all-reduce: G bytes in m buckets
//   T_d(b)    = alpha_d + beta_d b                  the loader producing one local batch
//
//   synchronous step:  T = max(T_c(b) + (1 - phi) T_grad,  T_d(b))
//   local step:        T = max(T_c(b),  T_d(b))
//   averaging round:   t_avg = p alpha_ar + beta_ar P  (P bytes of parameters in p tensors, plus the
//                      optimizer state when momentum is averaged), blocking, after the update
//
// phi is the measured fraction of the gradient all-reduce hidden behind backward (bucketed
// overlap, PyTorch DDP style; SyncOverhead below). The loader prefetches on its own threads, so producing a batch
// (T_d, the loader alone) bounds the step from below; what it costs beyond that (a loader
// sharing cores with compute on a CPU) is already in the measured T_c. A sync policy
// (optim/sync_policy.h) decides, update by update, which of these happen: `sync` all-reduces
// gradients every update; `local:H` averages parameters after every H-th; `post-local:H@t0`
// is sync before t0 and local:H after; `hier:H1:H2` averages within a node after every H1-th
// and globally after every (H1 H2)-th update. The same policy object the trainer obeys counts
// the rounds here, so the model and the trainer cannot disagree on when communication happens.
// One worker communicates nothing (the trainer then builds no communicator at all).
//
// Compute is measured with n ranks computing at once on one node (entries by n): on a shared
// machine a rank computes slower when its neighbours are busy (memory bandwidth, shared caches,
// a loader thread per rank), and the model uses the entry of min(K, devices_per_node) busy ranks.
// An all-reduce entry is measured at one world size; another K is scaled as a ring all-reduce
// (2 (K - 1) latency hops, 2 (K - 1) / K of the bytes per rank), and says so.
//
// T_c between two measured local batches is the chord through them (the measurement at a
// measured b); the line alpha_c + beta_c b outside the points and for hand-written entries
// without points (docs/profile_schema.md says why: an update on a CPU is not linear in b).
// Every fitted coefficient carries its fit error and the raw points, and a range (the measured x
// span). Anything outside what was measured is reported in StepTime::extrapolated by name.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "optim/sync_policy.h"

namespace batchlab::experiments {

// A profile.json that cannot be used: one line naming the file and the key.
struct ProfileError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct TimedPoint {
  double x = 0.0;  // local batch (examples) or message size (bytes)
  double s = 0.0;  // seconds
};

// y = alpha + beta x fitted by least squares on relative residuals (weights 1 / y^2): timings
// spanning decades of x (64 B .. 64 MB messages) are fitted to the same relative accuracy at
// both ends instead of the largest points deciding alone. alpha, beta >= 0 (when the free fit
// makes one negative, that one is 0 and the other refitted).
struct LinearFit {
  double alpha = 0.0, beta = 0.0;
  double rms_rel_error = 0.0;  // sqrt(mean ((fit - s) / s)^2) over the points; 0 without points
  double x_min = 0.0, x_max = 0.0;  // the range the fit is valid for (the points', or declared)
  std::vector<TimedPoint> points;
  double at(double x) const { return alpha + beta * x; }
  bool covers(double x) const { return x >= x_min * (1 - 1e-9) && x <= x_max * (1 + 1e-9); }
};

// Throws std::invalid_argument for fewer than 2 distinct x, or a non-positive or non-finite s.
LinearFit fit_linear(const std::vector<TimedPoint>& points);

struct ComputeEntry {
  int ranks = 1;  // ranks computing at the same time on one node when it was measured
  LinearFit step; // seconds per update vs local batch
};

struct AllreduceEntry {
  int ranks = 2;  // world size it was measured at
  LinearFit time; // seconds vs bytes
};

// The overlap, from synchronous updates timed two ways at several b (K = `ranks` ranks, the
// gradient all-reduce as the trainer runs it): with the configured bucketed overlap, and with
// every bucket all-reduced after backward (blocking, nothing hidden). Per b,
//   phi_b = (T_blocking(b) - T_sync(b)) / T_grad
// and phi is their mean, clamped to [0, 1] (nothing can be hidden more than fully, and a
// blocking path that comes out faster is noise); overlap_error is their standard deviation.
// The compute entry of K busy ranks is T_sync(b) - (1 - phi) T_grad: the update measured inside
// the synchronous regime the trainer runs (every update waits for the slowest rank, and on a
// shared CPU ranks in lockstep compete for the cores differently from free-running ones), so at
// the measured K the model gives back the measured synchronous update whatever phi is.
struct SyncPoint {
  double local_batch = 0.0;
  double sync_step_s = 0.0;      // the configured overlap
  double blocking_step_s = 0.0;  // the all-reduce after backward
};

struct SyncOverhead {
  int ranks = 0;                      // where it was measured; 0: not measured (hand-written)
  double overlap = 0.0;               // phi, in [0, 1]
  double overlap_error = 0.0;         // standard deviation of the phi_b (0 with < 2 points)
  double gradient_allreduce_s = 0.0;  // T_grad the fit used
  std::vector<SyncPoint> points;
};

// std::invalid_argument without points or with t_grad <= 0.
SyncOverhead fit_sync_overhead(const std::vector<SyncPoint>& points, double t_grad, int ranks);

struct StepTimeProfile {
  std::string source;   // "batchlab bench-step" or who wrote it by hand, from what
  std::string model, dataset, optimizer;
  // The gradient preconditioner in front of the rule (train's --precondition: none | kfac); ""
  // when the profile does not say (written by hand, or before bench-step recorded it).
  std::string precondition;
  std::int64_t parameters = 0;         // trainable values
  std::int64_t parameter_tensors = 0;  // messages of one parameter-averaging round
  std::int64_t optimizer_state_values = 0, optimizer_state_tensors = 0;  // averaged with momentum
  double bytes_per_value = 4.0;        // float32
  std::int64_t gradient_buckets = 1;   // messages of one gradient all-reduce
  double bucket_bytes = 0.0;
  std::string backend = "mpi", device = "cpu";
  int devices_per_node = 1, threads_per_rank = 1, loader_threads = 1;
  std::vector<ComputeEntry> compute;     // at least one
  std::vector<AllreduceEntry> allreduce; // may be empty only for a one-worker plan
  SyncOverhead sync;                     // phi; default: nothing hidden
  bool has_data = false;
  LinearFit data;                        // seconds for the loader to produce one local batch
  nlohmann::json extra = nlohmann::json::object();  // provenance, load average: kept as is

  double gradient_bytes() const { return static_cast<double>(parameters) * bytes_per_value; }
};

nlohmann::json profile_to_json(const StepTimeProfile& p);
// Checks every key (names, types, ranges); throws ProfileError "WHERE: KEY ...". `where` names
// the file in messages.
StepTimeProfile profile_from_json(const nlohmann::json& j, const std::string& where);
StepTimeProfile read_profile(const std::filesystem::path& path);  // ProfileError if unreadable

// The time of `steps` updates of K workers at local batch b under a sync policy.
struct RunTime {
  std::int64_t steps = 0;
  double total_s = 0.0;
  double compute_s = 0.0;  // sum of T_c over the updates
  double comm_s = 0.0;     // exposed gradient all-reduce + averaging rounds
  double data_s = 0.0;     // data time not hidden by the prefetching loader
  std::int64_t gradient_allreduces = 0, averaging_rounds_global = 0, averaging_rounds_node = 0;
  // local_batch, compute_ranks, allreduce_ranks, message_size, data_batch, sync_ranks
  std::vector<std::string> extrapolated;
  double step_s() const;                  // total_s / steps (0 for no steps)
};

class StepTimeModel {
 public:
  explicit StepTimeModel(StepTimeProfile profile);
  const StepTimeProfile& profile() const { return p_; }

  // Throws ProfileError when the profile cannot price K workers (no all-reduce entry for K > 1).
  RunTime run_time(double local_batch, int workers, const optim::SyncPolicy& policy,
                   std::int64_t steps) const;

  // The pieces, for tests and the plan's columns. `notes` collects extrapolation names.
  double compute_s(double local_batch, int workers, std::vector<std::string>& notes) const;
  double allreduce_s(double bytes, std::int64_t messages, int ranks, std::vector<std::string>& notes) const;
  double data_s(double local_batch, std::vector<std::string>& notes) const;

 private:
  StepTimeProfile p_;
};

}  // namespace batchlab::experiments
