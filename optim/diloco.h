// DiLoCo's outer step (Douillard et al. 2023, "DiLoCo: Distributed Low-Communication Training of
// Language Models") and its streaming form (Douillard et al. 2025, "Streaming DiLoCo with
// overlapping communication"), over a Communicator, for the simulator's workers and the
// trainer's ranks alike.
//
// Every worker m runs the configured (inner) optimizer on its own data, starting each round from
// the global parameters theta. When fragment f is due (SyncPolicy::fragment_due_after; diloco:H
// has one fragment, due after every H-th update), on that fragment's parameters:
//   Delta_m = theta - theta_m                      (the worker's pseudo-gradient)
//   Delta^_m = Q_b(Delta_m)                        (optim/quantize.h; b = 32: Delta^_m = Delta_m)
//   Delta = mean_m Delta^_m                        (all-reduce of the dequantised values)
//   outer sgd:      v <- mu v + Delta;  theta <- theta - eta v
//   outer nesterov: v <- mu v + Delta;  theta <- theta - eta (Delta + mu v)   (torch SGD, nesterov)
//   theta_m <- theta                               (every worker restarts from the new theta)
// The paper: inner AdamW, outer Nesterov eta = 0.7, mu = 0.9, H = 500. With outer sgd, eta = 1,
// mu = 0 the new theta is mean_m theta_m: local SGD with period H (local:H).
//
// Overlap (outer.overlap, Streaming DiLoCo): the all-reduce of fragment f sent after update t
// lands tau = outer.overlap_steps updates later; meanwhile the workers keep training from their
// own values. On arrival each worker keeps the progress it made while the result travelled:
//   theta_m <- theta + (theta_m(t + tau) - theta_m(t))
// Here the collective itself is blocking and the result is held back tau updates, so the
// simulator and the trainer compute exactly the delayed-application dynamics (the trainer does
// not hide the transfer time behind compute; its measured communication seconds say so).
//
// Fragments: the parameters, flattened in buffer order into N scalars, are cut into F contiguous
// element ranges [floor(f N / F), floor((f+1) N / F)); a range that spans several buffers is
// several pieces, each with its own quantisation scale. So every scalar belongs to exactly one
// fragment and syncs once per H updates.
//
// The global theta and the outer momentum live in every process in double precision (identical
// everywhere: they depend only on all-reduced values). Buffers must be host memory.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "optim/communicator.h"
#include "optim/quantize.h"
#include "optim/sync_policy.h"

namespace batchlab::optim {

struct DilocoStats {
  std::int64_t bytes_sent = 0;     // payload one worker sent so far (quantised codes + scales)
  std::int64_t outer_steps = 0;    // fragment outer steps taken
  QuantError last_error;           // the last outer step's quantisation error (replicas here)
  QuantError total_error;          // over all outer steps so far
};

class DilocoSync {
 public:
  struct Piece {
    std::size_t buffer = 0;  // index into a replica's buffer list
    std::size_t offset = 0;  // first element in that buffer
    std::size_t count = 0;
  };

  // params[r][i]: buffer i of replica r hosted here (all replicas alike in layout, and equal in
  // value: the run's initial global theta). first_worker: the global index of replica 0 (the
  // stochastic rounding stream). Throws ConfigError when F exceeds the parameter count.
  DilocoSync(const SyncPolicy& policy, std::vector<std::vector<BufferRef>> params, int first_worker,
             std::uint64_t seed);

  // After the update with 0-based index `step`: lands results due now, then sends the outer step
  // of the fragment due (if any). Returns true when an outer step was sent.
  bool after_update(std::int64_t step, Communicator& comm);

  const DilocoStats& stats() const { return stats_; }

  // The outer state, by name, for a checkpoint: "global" (theta) and "momentum" (v), with overlap
  // "sent.<r>" (replica r's theta_m at its in-flight sends) and "pending" (fragment, arrival
  // update) pairs, "stats" (DilocoStats) and "layout" (N, H, F, bits, tau or 0 without overlap).
  // Stochastic rounding keeps no state: its stream is a hash of (seed, worker, update, piece).
  // restore_state(save_state()) after the same updates continues a run exactly; it throws
  // std::runtime_error naming the mismatch when the state is another model's or policy's.
  std::map<std::string, std::vector<double>> save_state() const;
  void restore_state(const std::map<std::string, std::vector<double>>& state);
  const std::vector<Piece>& fragment(std::int64_t f) const { return fragments_[static_cast<std::size_t>(f)]; }
  std::int64_t parameter_count() const { return total_; }
  // The global parameters (flattened), for tests and the evaluated model.
  const std::vector<double>& global() const { return global_; }

 private:
  struct Pending {
    std::int64_t fragment;
    std::int64_t arrival_step;
  };
  void send(std::int64_t f, std::int64_t step, Communicator& comm);
  void outer_update(std::int64_t f);
  void land(std::int64_t f);

  SyncPolicy policy_;
  std::vector<std::vector<BufferRef>> params_;
  int first_worker_;
  std::uint64_t seed_;
  std::int64_t total_ = 0;
  std::vector<std::vector<Piece>> fragments_;
  std::vector<std::size_t> flat_offset_;  // flat index of each buffer's first element
  std::vector<double> global_, momentum_;
  std::vector<std::vector<double>> wire_;  // per replica: this fragment's pseudo-gradient
  std::vector<std::vector<double>> sent_;  // per replica, flat: theta_m when its fragment was sent (overlap)
  std::deque<Pending> pending_;
  DilocoStats stats_;
};

}  // namespace batchlab::optim
