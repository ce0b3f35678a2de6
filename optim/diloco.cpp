#include "optim/diloco.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "optim/config.h"
#include "optim/splitmix64.h"

namespace batchlab::optim {
namespace {

// Calls f(T* data) with the buffer's element type.
template <class F>
void typed(const BufferRef& b, F&& f) {
  if (b.dtype == DType::kFloat64) {
    f(static_cast<double*>(b.data));
  } else {
    f(static_cast<float*>(b.data));
  }
}

// Element ranges of fragment f of N scalars laid out in buffers of the given sizes.
std::vector<DilocoSync::Piece> cut_fragment(const std::vector<BufferRef>& layout,
                                            const std::vector<std::size_t>& flat_offset, std::size_t lo,
                                            std::size_t hi) {
  std::vector<DilocoSync::Piece> out;
  for (std::size_t i = 0; i < layout.size(); ++i) {
    const std::size_t b0 = flat_offset[i], b1 = b0 + layout[i].count;
    const std::size_t s = std::max(lo, b0), e = std::min(hi, b1);
    if (s < e) out.push_back({i, s - b0, e - s});
  }
  return out;
}

std::vector<double> error_values(const QuantError& e) { return {e.err_sq, e.ref_sq, e.max_over_bound}; }
QuantError error_of(const std::vector<double>& v, std::size_t at) { return {v[at], v[at + 1], v[at + 2]}; }

}  // namespace

DilocoSync::DilocoSync(const SyncPolicy& policy, std::vector<std::vector<BufferRef>> params, int first_worker,
                       std::uint64_t seed)
    : policy_(policy), params_(std::move(params)), first_worker_(first_worker), seed_(seed) {
  if (!policy_.outer_steps()) throw std::logic_error("DilocoSync needs a diloco or streaming-diloco policy");
  if (params_.empty()) throw std::invalid_argument("DilocoSync: no replicas");
  const auto& layout = params_[0];
  for (const auto& r : params_)
    if (r.size() != layout.size()) throw std::invalid_argument("DilocoSync: replicas have different layouts");
  for (const auto& b : layout) {
    flat_offset_.push_back(static_cast<std::size_t>(total_));
    total_ += static_cast<std::int64_t>(b.count);
  }
  const std::int64_t F = policy_.fragments;
  if (F > total_)
    throw ConfigError("sync policy '" + policy_.to_string() + "': F = " + std::to_string(F) + " fragments but the model has " +
                      std::to_string(total_) + " parameters (each fragment needs at least one)");
  std::size_t widest = 0;
  for (std::int64_t f = 0; f < F; ++f) {
    const auto lo = static_cast<std::size_t>(f * total_ / F), hi = static_cast<std::size_t>((f + 1) * total_ / F);
    fragments_.push_back(cut_fragment(layout, flat_offset_, lo, hi));
    widest = std::max(widest, hi - lo);
  }
  global_.resize(static_cast<std::size_t>(total_));
  for (std::size_t i = 0; i < layout.size(); ++i)
    typed(layout[i], [&](auto* p) {
      for (std::size_t k = 0; k < layout[i].count; ++k) global_[flat_offset_[i] + k] = static_cast<double>(p[k]);
    });
  momentum_.assign(global_.size(), 0.0);
  wire_.assign(params_.size(), std::vector<double>(widest));
  if (policy_.outer.overlap) sent_.assign(params_.size(), std::vector<double>(global_.size()));
}

bool DilocoSync::after_update(std::int64_t step, Communicator& comm) {
  if (comm.replicas_here() != static_cast<int>(params_.size()))
    throw std::invalid_argument("DilocoSync: the communicator hosts " + std::to_string(comm.replicas_here()) +
                                " replicas, the sync holds " + std::to_string(params_.size()));
  while (!pending_.empty() && pending_.front().arrival_step == step) {
    land(pending_.front().fragment);
    pending_.pop_front();
  }
  const std::int64_t f = policy_.fragment_due_after(step);
  if (f < 0) return false;
  send(f, step, comm);
  if (policy_.outer.overlap) {
    pending_.push_back({f, step + policy_.outer.overlap_steps});
  } else {
    land(f);
  }
  return true;
}

// Pseudo-gradients of fragment f, quantised per piece, all-reduced; then the outer update.
void DilocoSync::send(std::int64_t f, std::int64_t step, Communicator& comm) {
  const auto& pieces = fragments_[static_cast<std::size_t>(f)];
  const OuterConfig& o = policy_.outer;
  stats_.last_error = QuantError{};
  std::size_t n = 0;
  for (std::size_t r = 0; r < params_.size(); ++r) {
    std::vector<double>& w = wire_[r];
    std::size_t at = 0;
    for (std::size_t pi = 0; pi < pieces.size(); ++pi) {
      const Piece& pc = pieces[pi];
      const std::size_t g0 = flat_offset_[pc.buffer] + pc.offset;
      typed(params_[r][pc.buffer], [&](auto* p) {
        for (std::size_t k = 0; k < pc.count; ++k) {
          const double theta_m = static_cast<double>(p[pc.offset + k]);
          w[at + k] = global_[g0 + k] - theta_m;
          if (o.overlap) sent_[r][g0 + k] = theta_m;
        }
      });
      // One rounding stream per (run, worker, update, piece): independent across workers.
      const std::uint64_t s = splitmix64(seed_ ^ splitmix64(static_cast<std::uint64_t>(first_worker_) + r) ^
                                         splitmix64(static_cast<std::uint64_t>(step) * 0x9E37u + pi));
      stats_.last_error.merge(quantize_dequantize(std::span<double>(w.data() + at, pc.count), o.bits, o.rounding, s));
      if (r == 0) stats_.bytes_sent += quantized_bytes(static_cast<std::int64_t>(pc.count), o.bits);
      at += pc.count;
    }
    n = at;
  }
  std::vector<BufferRef> refs;
  for (auto& w : wire_) refs.push_back({w.data(), n, DType::kFloat64});
  comm.allreduce_mean(refs);
  stats_.total_error.merge(stats_.last_error);
  ++stats_.outer_steps;
  outer_update(f);
}

// theta, v <- the outer optimizer's step on Delta = wire_[0] (the same on every replica now).
void DilocoSync::outer_update(std::int64_t f) {
  const OuterConfig& o = policy_.outer;
  const std::vector<double>& delta = wire_[0];
  std::size_t at = 0;
  for (const Piece& pc : fragments_[static_cast<std::size_t>(f)]) {
    const std::size_t g0 = flat_offset_[pc.buffer] + pc.offset;
    for (std::size_t k = 0; k < pc.count; ++k) {
      const double d = delta[at + k];
      double& v = momentum_[g0 + k];
      v = o.momentum * v + d;
      const double step = o.rule == OuterRule::kNesterov ? d + o.momentum * v : v;
      global_[g0 + k] -= o.lr * step;
    }
    at += pc.count;
  }
}

// Every replica's fragment f <- theta (plus, with overlap, its progress since the send).
void DilocoSync::land(std::int64_t f) {
  const bool overlap = policy_.outer.overlap;
  for (std::size_t r = 0; r < params_.size(); ++r)
    for (const Piece& pc : fragments_[static_cast<std::size_t>(f)]) {
      const std::size_t g0 = flat_offset_[pc.buffer] + pc.offset;
      typed(params_[r][pc.buffer], [&](auto* p) {
        using T = std::remove_pointer_t<decltype(p)>;
        for (std::size_t k = 0; k < pc.count; ++k) {
          double x = global_[g0 + k];
          if (overlap) x += static_cast<double>(p[pc.offset + k]) - sent_[r][g0 + k];
          p[pc.offset + k] = static_cast<T>(x);
        }
      });
    }
}

namespace {

const std::vector<double>& entry(const std::map<std::string, std::vector<double>>& s, const std::string& name,
                                 std::size_t size) {
  const auto it = s.find(name);
  if (it == s.end()) throw std::runtime_error("DiLoCo outer state lacks '" + name + "'");
  if (size != 0 && it->second.size() != size)
    throw std::runtime_error("DiLoCo outer state '" + name + "' has " + std::to_string(it->second.size()) +
                             " values, this run needs " + std::to_string(size));
  return it->second;
}

}  // namespace

std::map<std::string, std::vector<double>> DilocoSync::save_state() const {
  const OuterConfig& o = policy_.outer;
  std::map<std::string, std::vector<double>> s;
  s["layout"] = {static_cast<double>(total_), static_cast<double>(policy_.period),
                 static_cast<double>(policy_.fragments), static_cast<double>(o.bits),
                 o.overlap ? static_cast<double>(o.overlap_steps) : 0.0};
  s["global"] = global_;
  s["momentum"] = momentum_;
  for (std::size_t r = 0; r < sent_.size(); ++r) s["sent." + std::to_string(r)] = sent_[r];
  std::vector<double>& pending = s["pending"];
  for (const Pending& p : pending_) {
    pending.push_back(static_cast<double>(p.fragment));
    pending.push_back(static_cast<double>(p.arrival_step));
  }
  std::vector<double> stats = {static_cast<double>(stats_.bytes_sent), static_cast<double>(stats_.outer_steps)};
  for (const QuantError* e : {&stats_.last_error, &stats_.total_error})
    for (double v : error_values(*e)) stats.push_back(v);
  s["stats"] = stats;
  return s;
}

void DilocoSync::restore_state(const std::map<std::string, std::vector<double>>& s) {
  const std::vector<double> here = save_state().at("layout");
  const std::vector<double>& there = entry(s, "layout", here.size());
  if (there != here) {
    auto text = [](const std::vector<double>& v) {
      const char* names[] = {"N = ", ", H = ", ", F = ", ", bits = ", ", overlap "};
      std::string out;
      for (std::size_t i = 0; i < v.size(); ++i) out += names[i] + std::to_string(static_cast<std::int64_t>(v[i]));
      return out;
    };
    throw std::runtime_error("DiLoCo outer state was saved with " + text(there) + ", this run has " + text(here));
  }
  const std::vector<double>& pending = entry(s, "pending", 0);
  const std::vector<double>& stats = entry(s, "stats", 8);
  if (pending.size() % 2 != 0) throw std::runtime_error("DiLoCo outer state 'pending' has an odd length");
  global_ = entry(s, "global", global_.size());
  momentum_ = entry(s, "momentum", momentum_.size());
  for (std::size_t r = 0; r < sent_.size(); ++r) sent_[r] = entry(s, "sent." + std::to_string(r), sent_[r].size());
  pending_.clear();
  for (std::size_t i = 0; i < pending.size(); i += 2) {
    const auto f = static_cast<std::int64_t>(pending[i]);
    if (f < 0 || f >= policy_.fragments)
      throw std::runtime_error("DiLoCo outer state: in-flight fragment " + std::to_string(f) + " out of range");
    pending_.push_back({f, static_cast<std::int64_t>(pending[i + 1])});
  }
  stats_.bytes_sent = static_cast<std::int64_t>(stats[0]);
  stats_.outer_steps = static_cast<std::int64_t>(stats[1]);
  stats_.last_error = error_of(stats, 2);
  stats_.total_error = error_of(stats, 5);
}

}  // namespace batchlab::optim
