#include <numeric>
#include <stdexcept>
#include <string>

#include "realtrain/data/rng.h"
#include "realtrain/data/source.h"

namespace batchlab::data {

ShardedSampler::ShardedSampler(std::int64_t dataset_size, std::int64_t global_batch, int rank, int world,
                               std::uint64_t seed)
    : n_(dataset_size), batch_(global_batch), rank_(rank), world_(world), seed_(seed) {
  const std::string where = "ShardedSampler: ";
  if (world < 1) throw std::invalid_argument(where + "world size must be >= 1, got " + std::to_string(world));
  if (rank < 0 || rank >= world)
    throw std::invalid_argument(where + "rank " + std::to_string(rank) + " outside [0, " + std::to_string(world) + ")");
  if (global_batch < 1) throw std::invalid_argument(where + "global batch must be >= 1, got " + std::to_string(global_batch));
  if (global_batch % world != 0)
    throw std::invalid_argument(where + "global batch " + std::to_string(global_batch) +
                                " is not divisible by the world size " + std::to_string(world));
  if (global_batch > dataset_size)
    throw std::invalid_argument(where + "global batch " + std::to_string(global_batch) +
                                " exceeds the dataset size " + std::to_string(dataset_size));
}

std::int64_t ShardedSampler::steps_per_epoch() const { return n_ / batch_; }

std::int64_t ShardedSampler::local_batch() const { return batch_ / world_; }

std::vector<std::int64_t> ShardedSampler::indices(std::int64_t step) const {
  if (step < 0) throw std::invalid_argument("ShardedSampler: negative step " + std::to_string(step));
  const std::int64_t epoch = step / steps_per_epoch();
  if (epoch != cached_epoch_) {
    // Fisher-Yates driven by a generator seeded from hash(seed, epoch): every rank, whatever
    // the world size, draws the same global order.
    perm_.resize(static_cast<std::size_t>(n_));
    std::iota(perm_.begin(), perm_.end(), std::int64_t{0});
    std::mt19937_64 rng(hash_seed(seed_, static_cast<std::uint64_t>(epoch)));
    for (std::int64_t i = n_ - 1; i > 0; --i) {
      const auto j = static_cast<std::int64_t>(uniform_below(rng, static_cast<std::uint64_t>(i + 1)));
      std::swap(perm_[static_cast<std::size_t>(i)], perm_[static_cast<std::size_t>(j)]);
    }
    cached_epoch_ = epoch;
  }
  const std::int64_t start = (step % steps_per_epoch()) * batch_ + rank_ * local_batch();
  return {perm_.begin() + start, perm_.begin() + start + local_batch()};
}

}  // namespace batchlab::data
