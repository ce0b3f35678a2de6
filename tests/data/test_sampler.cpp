// ShardedSampler: one global permutation per (seed, epoch), sliced by rank; coverage without
// replacement; the same global order for any world size.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "realtrain/data/source.h"

using batchlab::data::ShardedSampler;

namespace {

// The global order of an epoch as the 1-rank sampler sees it.
std::vector<std::int64_t> global_epoch(std::int64_t n, std::int64_t batch, std::uint64_t seed, std::int64_t epoch) {
  ShardedSampler one(n, batch, 0, 1, seed);
  std::vector<std::int64_t> order;
  for (std::int64_t t = 0; t < one.steps_per_epoch(); ++t) {
    auto idx = one.indices(epoch * one.steps_per_epoch() + t);
    order.insert(order.end(), idx.begin(), idx.end());
  }
  return order;
}

}  // namespace

TEST(ShardedSampler, EveryExampleExactlyOncePerEpochForWorld1To3) {
  const std::int64_t n = 36, batch = 6;
  for (int world : {1, 2, 3}) {
    for (std::int64_t epoch : {0, 1, 4}) {
      std::vector<int> hits(static_cast<std::size_t>(n), 0);
      for (int rank = 0; rank < world; ++rank) {
        ShardedSampler s(n, batch, rank, world, 17);
        ASSERT_EQ(s.steps_per_epoch(), 6);
        ASSERT_EQ(s.local_batch(), batch / world);
        for (std::int64_t t = 0; t < s.steps_per_epoch(); ++t)
          for (auto i : s.indices(epoch * s.steps_per_epoch() + t)) ++hits[static_cast<std::size_t>(i)];
      }
      for (std::int64_t i = 0; i < n; ++i)
        EXPECT_EQ(hits[static_cast<std::size_t>(i)], 1) << "world " << world << " epoch " << epoch << " example " << i;
    }
  }
}

TEST(ShardedSampler, RanksConcatenatedInOrderEqualTheOneRankBatch) {
  const std::int64_t n = 100, batch = 12;  // 8 steps, 4 examples dropped per epoch
  for (int world : {2, 3}) {
    std::vector<ShardedSampler> ranks;
    for (int r = 0; r < world; ++r) ranks.emplace_back(n, batch, r, world, 99);
    ShardedSampler one(n, batch, 0, 1, 99);
    for (std::int64_t step = 0; step < 3 * one.steps_per_epoch(); ++step) {
      std::vector<std::int64_t> joined;
      for (auto& s : ranks) {
        auto idx = s.indices(step);
        joined.insert(joined.end(), idx.begin(), idx.end());
      }
      EXPECT_EQ(joined, one.indices(step)) << "world " << world << " step " << step;
    }
  }
}

TEST(ShardedSampler, DropsTheLastPartialBatchAndNeverRepeatsWithinAnEpoch) {
  ShardedSampler s(100, 12, 0, 1, 5);
  EXPECT_EQ(s.steps_per_epoch(), 8);
  const auto order = global_epoch(100, 12, 5, 0);
  EXPECT_EQ(order.size(), 96u);
  EXPECT_EQ(std::set<std::int64_t>(order.begin(), order.end()).size(), 96u);
  for (auto i : order) EXPECT_TRUE(i >= 0 && i < 100);
}

TEST(ShardedSampler, PermutationIsAFunctionOfSeedAndEpochOnly) {
  const auto e0 = global_epoch(50, 10, 1, 0);
  EXPECT_EQ(e0, global_epoch(50, 10, 1, 0));
  EXPECT_NE(e0, global_epoch(50, 10, 1, 1)) << "epochs reshuffle";
  EXPECT_NE(e0, global_epoch(50, 10, 2, 0)) << "seeds differ";
  // Not the identity either.
  std::vector<std::int64_t> identity(50);
  for (std::int64_t i = 0; i < 50; ++i) identity[static_cast<std::size_t>(i)] = i;
  EXPECT_NE(e0, identity);
  // Random access: asking for step 7 first, then step 2, gives what sequential access gives.
  ShardedSampler a(50, 10, 0, 1, 1), b(50, 10, 0, 1, 1);
  const auto late = a.indices(7);
  const auto early = a.indices(2);
  for (std::int64_t t = 0; t < 7; ++t) b.indices(t);
  EXPECT_EQ(late, b.indices(7));
  EXPECT_EQ(early, b.indices(2));
}

TEST(ShardedSampler, RejectsInconsistentSizes) {
  EXPECT_THROW(ShardedSampler(100, 10, 0, 3, 0), std::invalid_argument);  // 10 % 3 != 0
  EXPECT_THROW(ShardedSampler(100, 10, 2, 2, 0), std::invalid_argument);  // rank >= world
  EXPECT_THROW(ShardedSampler(100, 0, 0, 1, 0), std::invalid_argument);
  EXPECT_THROW(ShardedSampler(5, 10, 0, 1, 0), std::invalid_argument);    // batch > dataset
  EXPECT_THROW(ShardedSampler(5, 5, 0, 0, 0), std::invalid_argument);
  EXPECT_THROW(ShardedSampler(10, 5, 0, 1, 0).indices(-1), std::invalid_argument);
}
