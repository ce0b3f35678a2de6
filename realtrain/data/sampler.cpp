// ShardedSampler: the data order of training (source.h). Updates walk the per-epoch
// permutations in order, each taking the next B_k unread examples of its epoch, or starting the
// next epoch when fewer than B_k are left; ranks slice every global batch contiguously.
#include <numeric>
#include <stdexcept>
#include <string>

#include "realtrain/data/rng.h"
#include "realtrain/data/source.h"

namespace batchlab::data {

ShardedSampler::ShardedSampler(std::int64_t dataset_size, std::int64_t global_batch, int rank, int world,
                               std::uint64_t seed)
    : ShardedSampler(dataset_size, std::vector<BatchPhase>{{0, global_batch}}, rank, world, seed) {}

ShardedSampler::ShardedSampler(std::int64_t dataset_size, std::vector<BatchPhase> phases, int rank, int world,
                               std::uint64_t seed)
    : n_(dataset_size), rank_(rank), world_(world), seed_(seed) {
  const std::string where = "ShardedSampler: ";
  if (world < 1) throw std::invalid_argument(where + "world size must be >= 1, got " + std::to_string(world));
  if (rank < 0 || rank >= world)
    throw std::invalid_argument(where + "rank " + std::to_string(rank) + " outside [0, " + std::to_string(world) + ")");
  if (phases.empty() || phases.front().first_step != 0)
    throw std::invalid_argument(where + "the first batch phase must start at step 0");
  for (std::size_t i = 0; i < phases.size(); ++i) {
    const std::int64_t b = phases[i].batch;
    const std::string which = phases.size() > 1 ? " (phase " + std::to_string(i) + ")" : "";
    if (b < 1) throw std::invalid_argument(where + "global batch must be >= 1, got " + std::to_string(b) + which);
    if (b % world != 0)
      throw std::invalid_argument(where + "global batch " + std::to_string(b) + which +
                                  " is not divisible by the world size " + std::to_string(world));
    if (b > dataset_size)
      throw std::invalid_argument(where + "global batch " + std::to_string(b) + which +
                                  " exceeds the dataset size " + std::to_string(dataset_size));
    if (i > 0 && phases[i].first_step < phases[i - 1].first_step)
      throw std::invalid_argument(where + "batch phase " + std::to_string(i) + " starts at step " +
                                  std::to_string(phases[i].first_step) + ", before phase " +
                                  std::to_string(i - 1));
  }
  // A phase followed by one starting at the same step has no update (two milestones passed in
  // one step, say): the later one holds.
  for (std::size_t i = 0; i < phases.size(); ++i)
    if (i + 1 == phases.size() || phases[i + 1].first_step > phases[i].first_step) phases_.push_back(phases[i]);
  // The cursor at each phase start: one pass over the (few) phases.
  Position cur{0, 0};
  for (std::size_t i = 0; i < phases_.size(); ++i) {
    phase_cursor_.push_back(cur);
    if (i + 1 < phases_.size()) {
      const std::int64_t last = phases_[i + 1].first_step - 1;  // the phase's last update
      Position p = position(last);
      cur = {p.epoch, p.offset + phases_[i].batch};
    }
  }
}

std::int64_t ShardedSampler::steps_per_epoch() const { return n_ / phases_.front().batch; }

std::int64_t ShardedSampler::local_batch() const { return phases_.front().batch / world_; }

const BatchPhase& ShardedSampler::phase_of(std::int64_t step) const {
  std::size_t i = phases_.size() - 1;
  while (phases_[i].first_step > step) --i;  // phases_[0].first_step == 0 <= step
  return phases_[i];
}

std::int64_t ShardedSampler::global_batch(std::int64_t step) const {
  if (step < 0) throw std::invalid_argument("ShardedSampler: negative step " + std::to_string(step));
  return phase_of(step).batch;
}

ShardedSampler::Position ShardedSampler::position(std::int64_t step) const {
  if (step < 0) throw std::invalid_argument("ShardedSampler: negative step " + std::to_string(step));
  std::size_t i = phases_.size() - 1;
  while (phases_[i].first_step > step) --i;
  // The phase's batch B from the cursor (e, c): the first r = (n - c) / B updates fit in the
  // rest of epoch e, then each later epoch holds floor(n / B) of them from offset 0.
  const std::int64_t b = phases_[i].batch, j = step - phases_[i].first_step;
  const Position c = phase_cursor_[i];  // set for every phase up to i (the constructor's pass)
  const std::int64_t r = (n_ - c.offset) / b;
  if (j < r) return {c.epoch, c.offset + j * b};
  const std::int64_t rest = j - r, per_epoch = n_ / b;
  return {c.epoch + 1 + rest / per_epoch, (rest % per_epoch) * b};
}

std::vector<std::int64_t> ShardedSampler::indices(std::int64_t step) const {
  const Position p = position(step);
  if (p.epoch != cached_epoch_) {
    // Fisher-Yates driven by a generator seeded from hash(seed, epoch): every rank, whatever
    // the world size, draws the same global order.
    perm_.resize(static_cast<std::size_t>(n_));
    std::iota(perm_.begin(), perm_.end(), std::int64_t{0});
    std::mt19937_64 rng(hash_seed(seed_, static_cast<std::uint64_t>(p.epoch)));
    for (std::int64_t i = n_ - 1; i > 0; --i) {
      const auto j = static_cast<std::int64_t>(uniform_below(rng, static_cast<std::uint64_t>(i + 1)));
      std::swap(perm_[static_cast<std::size_t>(i)], perm_[static_cast<std::size_t>(j)]);
    }
    cached_epoch_ = p.epoch;
  }
  const std::int64_t local = global_batch(step) / world_;
  const std::int64_t start = p.offset + rank_ * local;
  return {perm_.begin() + start, perm_.begin() + start + local};
}

}  // namespace batchlab::data
